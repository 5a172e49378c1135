"""Secrets: every writer redacts, and the end of the session scans all it wrote."""

from __future__ import annotations

import json
import time

import pytest

from gameday import redact
from gameday.journal import Journal
from gameday.observers import JournalFile
from gameday.redact import SecretLeak
from reporting import session
from suites.reports.conftest import NEW_RUN, OLD_RUN, db_down

pytestmark = pytest.mark.report

SECRET = 'pg-"s3cr3t"&pass'


def test_redact_removes_every_form_of_a_secret() -> None:
    text = (f"password={SECRET} json={json.dumps(SECRET)} "
            f"html=pg-&quot;s3cr3t&quot;&amp;pass")
    cleaned = redact.redact(text, [SECRET, ""])
    assert "s3cr3t" not in cleaned
    assert cleaned.count(redact.MASK) == 3
    assert redact.redact("nothing to hide", []) == "nothing to hide"
    assert redact.redact("abc", ["", "  "]) == "abc"  # blank secrets are not secrets


def test_scan_raises_naming_the_file_not_the_secret(tmp_path) -> None:
    clean, leaky = tmp_path / "clean.md", tmp_path / "leaky.json"
    clean.write_text("all fine")
    leaky.write_text(json.dumps({"output": f"POSTGRES_PASSWORD={SECRET}"}))
    with pytest.raises(SecretLeak) as leak:
        redact.scan([clean, leaky], [SECRET])
    assert leak.value.paths == [leaky]
    assert str(leaky) in str(leak.value) and "s3cr3t" not in str(leak.value)
    redact.scan([clean], [SECRET])  # no leak, no error


def _leaking(secret: str) -> Journal:
    """A journal whose command output carries the secret, as a careless command would."""
    journal = db_down()
    journal.commands[0]["output"] += f"\nPOSTGRES_PASSWORD={secret}"
    return journal


def test_finish_writes_everything_and_reports_a_leaking_journal(root) -> None:
    leaking = _leaking(SECRET)
    path = root / "journals" / leaking.file_name()
    path.write_text(leaking.to_json())  # as a writer that forgot to redact would
    results = root / "allure-results"
    with pytest.raises(SecretLeak) as leak:
        session.finish(results, {"run.id": NEW_RUN}, journals=[leaking], secrets=[SECRET],
                       started=time.time(), root=root)
    # The reports themselves were redacted; only the journal (not ours to write) leaked.
    assert leak.value.paths == [path]
    incident = (root / "incidents" / NEW_RUN / "db-down.md").read_text()
    assert "POSTGRES_PASSWORD=[REDACTED]" in incident
    assert "s3cr3t" not in (root / "summary" / f"{NEW_RUN}.html").read_text()


def test_the_lifecycle_writer_redacts_the_journal(root) -> None:
    redact.register(SECRET)
    try:
        leaking = _leaking(SECRET)
        JournalFile(root / "journals").finished(leaking)
        session.finish(root / "allure-results", {}, journals=[leaking], secrets=[SECRET],
                       started=time.time(), root=root)
    finally:
        redact.KNOWN.discard(SECRET)
    assert "POSTGRES_PASSWORD=[REDACTED]" in (root / "journals" / leaking.file_name()).read_text()


def test_finish_finds_a_secret_in_allure_results(root) -> None:
    results = root / "allure-results"
    results.mkdir()
    (results / "abc-attachment.txt").write_text(f"token {SECRET}")
    with pytest.raises(SecretLeak) as leak:
        session.finish(results, {}, journals=[], secrets=[SECRET], started=time.time(),
                       root=root)
    assert leak.value.paths == [results / "abc-attachment.txt"]


def test_finish_returns_what_it_wrote(root, journals) -> None:
    results = root / "allure-results"
    written = session.finish(results, {"run.id": NEW_RUN, "app": "0.1.0"}, journals=journals,
                             secrets=["not-there"], started=time.time() - 5, root=root)
    relative = {str(p.relative_to(root)) for p in written}
    assert {"allure-results/environment.properties", "allure-results/categories.json",
            f"incidents/{NEW_RUN}/db-down.md", f"incidents/{NEW_RUN}/service-crash.json",
            f"incidents/{OLD_RUN}/db-down.md", f"summary/{OLD_RUN}.html",
            f"summary/{NEW_RUN}.md", "summary/latest.html"} <= relative
    assert not any("alert-rule-removed" in name for name in relative)
    assert (root / "summary" / "latest.md").read_text() == (
        root / "summary" / f"{NEW_RUN}.md").read_text()


def test_reports_of_other_sessions_are_not_scanned(root) -> None:
    """Only what this session wrote or journaled, and the Allure results, are scanned."""
    old = root / "incidents" / "old" / "x.md"
    old.parent.mkdir(parents=True)
    old.write_text(SECRET)
    session.finish(root / "allure-results", {}, journals=[], secrets=[SECRET],
                   started=time.time(), root=root)
