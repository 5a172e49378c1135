"""The end of every pytest session: Allure environment and categories, the incident reports and
the summary of each run of the session, then a scan of everything written for secrets.

conftest.py calls `finish(...)` from pytest_sessionfinish, passing `started=` the time the
session started (see `journal_run_ids` to find the runs the session journaled).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from pathlib import Path

from gameday.redact import SecretLeak, scan
from reporting import REPORTS, allure_env, incident, journals, summary

__all__ = ["SecretLeak", "finish", "journal_run_ids", "written_since"]

# When this module was imported: the default start of the session for conftest files that
# import it at the top (pytest imports conftest.py before the session starts).
IMPORTED_AT = time.time()
# Not reports of the session: the npm install of allure and the HTML built by `make report`.
NOT_SCANNED = (".node", "html")
MTIME_SLACK = 2.0  # coarse file-system clocks


def written_since(started: float, folders: Iterable[Path]) -> list[Path]:
    """Files under `folders` modified at or after `started`."""
    found: set[Path] = set()
    for folder in folders:
        folder = Path(folder)
        if not folder.is_dir():
            continue
        for path in folder.rglob("*"):
            relative = path.relative_to(folder).parts
            if relative and relative[0] in NOT_SCANNED:
                continue
            try:
                if path.is_file() and path.stat().st_mtime >= started - MTIME_SLACK:
                    found.add(path)
            except OSError:
                continue  # removed while we looked
    return sorted(found)


def journal_run_ids(started: float, root: Path = REPORTS) -> list[str]:
    """Run ids with a journal (real or broken variant) written at or after `started`, oldest
    run first."""
    folder = root / "journals"
    recent = {p for p in written_since(started, [folder]) if p.suffix == ".json"}
    ids = {journals.load(p).get("run_id") for p in recent}
    ordered = journals.run_ids(folder)
    return [r for r in ordered if r in ids] + sorted(r for r in ids if r and r not in ordered)


def finish(results_dir: Path, properties: Mapping[str, str], secrets: list[str],
           run_ids: list[str], *, root: Path = REPORTS,
           started: float | None = None) -> list[Path]:
    """Write the session's reports and return their paths.

    Raises SecretLeak (naming the files, never the secret) when any file written under
    `root` or `results_dir` since `started` contains one of `secrets`; the reports are
    written first, so that the leak can be inspected.
    """
    started = IMPORTED_AT if started is None else started
    results_dir = Path(results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    written = [allure_env.write_environment(results_dir, properties, secrets),
               allure_env.write_categories(results_dir)]
    # Oldest first, so that latest.* ends up as the newest run's summary.
    known = journals.run_ids(root / "journals")
    for run_id in sorted(dict.fromkeys(run_ids), key=lambda r: known.index(r)
                         if r in known else len(known)):
        written += incident.write_run(run_id, root, secrets)
        written += summary.write(run_id, root, secrets)
    scan(set(written_since(started, [root, results_dir])) | set(written), secrets)
    return written
