"""Game Day's report writers: incident reports, the game-day summary, Allure's environment,
categories and HTML report.

They read the typed journal (gameday.journal) the lifecycle hands over in memory, and write
into reports/, which holds run output only. Only real runs (variant "real") are reported; the
broken variants are the suite's own negative tests.
"""

from pathlib import Path

REPORTS = Path(__file__).resolve().parents[1] / "reports"
