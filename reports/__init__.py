"""Game Day's reports: incident reports, the game-day summary and the Allure HTML report.

Everything is built from the scenario journals in reports/journals/ (see
suites/scenarios/lifecycle.py `Journal`); only the real runs (variant "real") are reported,
the broken variants are the suite's own negative tests.
"""

from pathlib import Path

REPORTS = Path(__file__).resolve().parent
