"""The end of every pytest session: Allure environment and categories, the incident reports and
the summary of each run of the session, then a scan of everything written for secrets.

conftest.py calls `finish(...)` from pytest_sessionfinish with the journals the session's
lifecycles wrote, in memory. By hand, the reports of a run are rebuilt from its journal files:

    python -m reporting.session [--run-id ID] [--root DIR]   (default: the newest run)
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

from gameday.journal import Journal
from gameday.redact import SecretLeak, scan
from reporting import REPORTS, allure_env, fmt, incident, summary
from reporting.journals import runs

__all__ = ["SecretLeak", "finish", "write_runs"]


def newest(grouped: Mapping[str, list[Journal]]) -> str | None:
    """The newest run that has a real journal."""
    return next((run_id for run_id in reversed(grouped) if grouped[run_id]), None)


def write_runs(grouped: Mapping[str, list[Journal]], latest: str | None,
               root: Path = REPORTS, secrets: Iterable[str] = ()) -> list[Path]:
    """Incident reports of every real journal and a summary of every run; the run `latest`
    is also the summary's latest.*."""
    secrets = list(secrets)
    written: list[Path] = []
    for run_id, run in grouped.items():
        for journal in run:
            written += incident.write(journal, root, secrets)
        written += summary.write(run_id, run, root, secrets, latest=run_id == latest)
    return written


def finish(results_dir: Path, properties: Mapping[str, str], *, journals: list[Journal],
           secrets: list[str], started: float, root: Path = REPORTS) -> list[Path]:
    """Write the session's reports and return their paths.

    Raises SecretLeak (naming the files, never the secret) when a secret is in any report
    written here, any journal of the session, or any file of `results_dir`; the reports are
    written first, so that the leak can be inspected.
    """
    results_dir = Path(results_dir)
    environment = {**properties, "session.started": fmt.utc(started)}
    written = [allure_env.write_environment(results_dir, environment, secrets),
               allure_env.write_categories(results_dir)]
    grouped = runs(journals)
    written += write_runs(grouped, newest(grouped), root, secrets)
    journal_files = [root / "journals" / j.file_name() for j in journals]
    results = [p for p in results_dir.rglob("*") if p.is_file()]
    scan(sorted(set(written) | set(journal_files) | set(results)), secrets)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Rebuild the reports of a run from its "
                                                 "journal files.")
    parser.add_argument("--run-id", help="default: the newest run in reports/journals")
    parser.add_argument("--root", type=Path, default=REPORTS, help="the reports folder")
    args = parser.parse_args(argv)
    found = []
    for path in sorted((args.root / "journals").glob("*.json")):
        try:
            found.append(Journal.load(path))
        except (OSError, ValueError, KeyError, TypeError) as error:
            print(f"skipping {path}: {error}", file=sys.stderr)
    grouped = runs(found)
    run_id = args.run_id or newest(grouped)
    if run_id not in grouped:
        print(f"no journals of run {run_id} in {args.root / 'journals'}", file=sys.stderr)
        return 1
    for path in write_runs({run_id: grouped[run_id]}, newest(grouped), args.root):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
