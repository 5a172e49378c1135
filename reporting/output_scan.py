"""A secret in pytest's own output fails the session.

The session's report files are scanned by reporting.session; this pytest plugin covers what
pytest itself writes: everything the terminal reporter prints (progress, failures, summaries),
the captured stdout, stderr and log of every test report (shown for failures, and what
`--junitxml` stores), direct prints when capture is off, and the JUnit XML file once it is
written. A leak is reported loudly (naming where, never the secret) after the terminal summary,
the session's exit status becomes "tests failed", and the JUnit file is redacted in place so
that no CI artifact carries the secret on.

conftest.py registers one for the session with `secrets=lambda: redact.KNOWN`, the secrets of
the session, known from the moment each exists.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Generator, Iterable
from pathlib import Path
from typing import IO, Any

import pytest

from gameday import redact

TERMINAL = "the terminal output"


class Tee:
    """A text stream that writes to `target` and keeps a copy."""

    def __init__(self, target: IO[str]) -> None:
        self.target = target
        self.copy: list[str] = []

    def write(self, text: str) -> int:
        self.copy.append(text)
        return self.target.write(text)

    def text(self) -> str:
        return "".join(self.copy)

    def __getattr__(self, name: str) -> Any:  # flush, isatty, encoding, fileno...
        return getattr(self.target, name)


class OutputScan:
    """The pytest plugin. `secrets` is called at the end of the session."""

    def __init__(self, secrets: Callable[[], Iterable[str]]) -> None:
        self.secrets = secrets
        self.streams: dict[str, Tee] = {}
        self.reports: list[tuple[str, str]] = []  # (where, text) of every test report
        self.seen: set[tuple[str, str, str]] = set()
        self.leaks: list[str] = []

    # ---- what pytest prints ---------------------------------------------------------------
    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        writer = session.config.get_terminal_writer()
        if writer is not None and hasattr(writer, "_file"):
            writer._file = self.streams[TERMINAL] = Tee(writer._file)
        if session.config.getoption("capture", "fd") == "no":  # -s: prints reach the terminal
            for name in ("stdout", "stderr"):
                tee = Tee(getattr(sys, name))
                setattr(sys, name, tee)
                self.streams[f"sys.{name} with capture off"] = tee

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        where = f"{report.nodeid} ({report.when})"
        if report.longrepr is not None:
            self.reports.append((f"{where}: the failure report", report.longreprtext))
        for title, content in report.sections:  # Captured stdout/stderr/log ...
            # a later phase's report repeats the earlier phases' sections: each once
            if (report.nodeid, title, content) not in self.seen:
                self.seen.add((report.nodeid, title, content))
                self.reports.append((f"{where}: {title.lower()}", content))

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.longrepr is not None:
            self.reports.append((f"{report.nodeid} (collect)", report.longreprtext))

    # ---- after everything pytest writes ----------------------------------------------------
    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> Generator[None, None, None]:
        # Outermost: the terminal summary is printed and the JUnit file written inside.
        yield
        for name in ("stdout", "stderr"):
            stream = getattr(sys, name)
            if isinstance(stream, Tee) and f"sys.{name} with capture off" in self.streams:
                setattr(sys, name, stream.target)
        self.leaks = self.scan(session.config.getoption("xmlpath", None))
        if not self.leaks:
            return
        writer = session.config.get_terminal_writer()
        lines = "\n  ".join(self.leaks)
        message = (f"SECRET LEAK: a secret of this session is in pytest's output, in "
                   f"{len(self.leaks)} place(s):\n  {lines}")
        if writer is not None:
            writer.line(message, red=True, bold=True)
        else:
            print(message, file=sys.stderr)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def scan(self, junit: str | None) -> list[str]:
        """Where a secret is: the terminal, a test report, the JUnit file (then redacted)."""
        secrets = list(self.secrets())
        found = [name for name, tee in self.streams.items()
                 if redact.contains(tee.text(), secrets)]
        found += [where for where, text in self.reports if redact.contains(text, secrets)]
        if junit and Path(junit).is_file():
            path = Path(junit)
            if redact.leaks([path], secrets):
                redact.write_text(path, path.read_text(encoding="utf-8", errors="replace"),
                                  secrets)
                found.append(f"{path} (now redacted)")
        return found
