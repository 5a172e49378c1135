"""A secret in pytest's own output fails the session (reporting/output_scan.py).

Each test runs a real inner pytest session (pytester) with the plugin, in which a test writes a
planted secret where a careless test would: a print, an assertion message, a print with capture
off. The planted secret is only the inner session's: the outer one never knows it.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from reporting.output_scan import TERMINAL, OutputScan

pytestmark = pytest.mark.report

PLANTED = f"pg-{secrets.token_urlsafe(12)}"


@pytest.fixture
def session(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch):
    """Run an inner session on one test file with the scan; returns (result, scan, junit)."""
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")  # only pytest and the scan

    def run(source: str, *args: str) -> tuple[pytest.RunResult, OutputScan, Path]:
        pytester.makepyfile(test_inner=source.replace("PLANTED", PLANTED))
        junit = pytester.path / "junit.xml"
        scan = OutputScan(lambda: [PLANTED])
        result = pytester.runpytest_inprocess(f"--junitxml={junit}", "-p", "no:cacheprovider",
                                              *args, plugins=[scan])
        return result, scan, junit

    return run


def test_a_clean_session_passes(session) -> None:
    result, scan, junit = session("def test_fine():\n    print('nothing to hide')\n")
    assert result.ret == pytest.ExitCode.OK
    assert scan.leaks == []
    assert "SECRET LEAK" not in result.stdout.str()
    assert junit.is_file()


def test_a_secret_in_captured_output_fails_a_passing_session(session) -> None:
    result, scan, _ = session("def test_prints():\n    print('password=PLANTED')\n")
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert scan.leaks == ["test_inner.py::test_prints (call): captured stdout call"]
    assert "SECRET LEAK: a secret of this session is in pytest's output" in result.stdout.str()
    assert PLANTED not in result.stdout.str()  # the report names the place, never the secret


def test_a_secret_in_a_failure_is_found_on_the_terminal_and_in_junit(session) -> None:
    result, scan, junit = session(
        "def test_fails():\n    dsn = 'password=PLANTED'\n    assert dsn == 'x'\n")
    result.assert_outcomes(failed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert TERMINAL in scan.leaks
    assert "test_inner.py::test_fails (call): the failure report" in scan.leaks
    assert f"{junit} (now redacted)" in scan.leaks
    text = junit.read_text()
    assert PLANTED not in text and "[REDACTED]" in text  # no CI artifact carries it on


def test_a_secret_printed_with_capture_off_is_found(session) -> None:
    result, scan, _ = session("def test_prints():\n    print('key PLANTED')\n", "-s")
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert "sys.stdout with capture off" in scan.leaks


def test_the_session_scans_with_the_secrets_known_at_its_end(session) -> None:
    """A secret registered while the session runs (a stack created, a key rotated) is found in
    output written before it was registered."""
    known: list[str] = []
    scan = OutputScan(lambda: known)
    scan.reports.append(("early (call): captured stdout call", f"dsn password={PLANTED}"))
    assert scan.scan(None) == []
    known.append(PLANTED)
    assert scan.scan(None) == ["early (call): captured stdout call"]
