"""What watches a lifecycle run: Allure steps, console progress, the journal file.

Each is an Observer (gameday.lifecycle): a context manager around every phase, attachments,
and the end of the run. bench adds its own by passing a list to the same runner.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import allure

from gameday import redact
from gameday.journal import Journal, Phase


class AllureSteps:
    """Each phase an Allure step; attachments redacted; the journal attached at the end."""

    @contextlib.contextmanager
    def phase(self, journal: Journal, name: Phase) -> Iterator[None]:
        with allure.step(name.value):
            yield

    def attach(self, name: str, content: str, kind: str) -> None:
        kinds = {"json": allure.attachment_type.JSON, "text": allure.attachment_type.TEXT}
        allure.attach(redact.redact(content, redact.KNOWN), name=name, attachment_type=kinds[kind])

    def finished(self, journal: Journal) -> None:
        self.attach("journal", journal.to_json(), "json")


class ConsoleProgress:
    """One line per phase on stderr, so that a laptop run shows where it is."""

    def __init__(self) -> None:
        self.stream = sys.stderr

    @contextlib.contextmanager
    def phase(self, journal: Journal, name: Phase) -> Iterator[None]:
        started = time.monotonic()
        outcome = "failed"
        try:
            yield
            outcome = "ok"
        finally:
            self.stream.write(f"\n[game day] {journal.scenario}"
                              f"{'' if journal.is_real else ' (' + journal.variant + ')'}: "
                              f"{name.value} {outcome} ({time.monotonic() - started:.1f}s)")
            self.stream.flush()

    def attach(self, name: str, content: str, kind: str) -> None:
        pass

    def finished(self, journal: Journal) -> None:
        self.stream.write(f"\n[game day] {journal.scenario}: {journal.result.value}\n")


class JournalFile:
    """Writes the journal, redacted, and keeps it for the session's reports (in memory)."""

    def __init__(self, directory: Path, kept: list[Journal] | None = None) -> None:
        self.directory = directory
        self.kept = kept if kept is not None else []

    @contextlib.contextmanager
    def phase(self, journal: Journal, name: Phase) -> Iterator[None]:
        yield

    def attach(self, name: str, content: str, kind: str) -> None:
        pass

    def finished(self, journal: Journal) -> None:
        redact.write_text(self.directory / journal.file_name(), journal.to_json(), redact.KNOWN)
        self.kept.append(journal)
