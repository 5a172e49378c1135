"""Shards of one game day (same run id, one stack per runner) merge into the summary one
unsharded run would have written: the merge job copies every shard's journals into one folder
and rebuilds the reports from them."""

from __future__ import annotations

import shutil
from pathlib import Path

from gameday.observers import JournalFile
from reporting import session
from suites.reports.conftest import NEW_RUN, db_down, port_conflict, service_crash


def _summary(root: Path) -> str:
    assert session.main(["--run-id", NEW_RUN, "--root", str(root)]) == 0
    return (root / "summary" / "latest.md").read_text()


def test_two_shards_merge_into_the_unsharded_summary(tmp_path: Path) -> None:
    journals = [db_down(), service_crash(), port_conflict()]
    whole = tmp_path / "whole"
    for journal in journals:
        JournalFile(whole / "journals").finished(journal)
    shards = [tmp_path / "shard-1", tmp_path / "shard-2"]
    for index, journal in enumerate(journals):
        JournalFile(shards[index % 2] / "journals").finished(journal)
    merged = tmp_path / "merged"
    for shard in reversed(shards):  # artifacts arrive in any order
        shutil.copytree(shard / "journals", merged / "journals", dirs_exist_ok=True)
    assert _summary(merged) == _summary(whole)
    assert "port-conflict" in _summary(merged) and "service-crash" in _summary(merged)
