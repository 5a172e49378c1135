"""`python -m reporting.allure_html` on real allure-pytest results, opened in headless Chromium:
the test names, their steps and our categories are in the rendered page, offline."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from reporting import REPORTS, allure_env, allure_html

pytestmark = pytest.mark.report

PROJECT = REPORTS.parent
SCREENSHOTS = REPORTS / "screenshots"
TINY = textwrap.dedent('''
    import allure


    def test_probe_sees_the_fault():
        with allure.step("inject: stop postgres"):
            pass
        with allure.step("detect: /ready answers 503"):
            pass


    def test_alert_never_fires():
        with allure.step("alert: wait for DatabaseConnectionFailure"):
            raise AssertionError("[alert/alert-missing] DatabaseConnectionFailure not firing")
''')


@pytest.fixture(scope="session")
def chromium() -> str:
    """Headless Chromium from Debian's packages, installed once if missing."""
    if shutil.which("chromium") is None:
        assert shutil.which("apt-get"), "chromium is missing and there is no apt-get to install it"
        install = ["apt-get", "install", "-y", "-q", "chromium"]
        if subprocess.run(install, capture_output=True, timeout=900).returncode != 0:
            # A fresh machine has no package lists yet.
            subprocess.run(["apt-get", "update", "-q"], capture_output=True, timeout=900)
            subprocess.run(install, capture_output=True, timeout=900)
    found = shutil.which("chromium")
    assert found, "chromium is missing and `apt-get install -y chromium` did not install it"
    return found


def _chromium(binary: str, url: str, profile: Path, *flags: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [binary, "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--disable-component-update", "--no-first-run",
         # No name resolves: the report must render with no network at all.
         "--host-resolver-rules=MAP * ~NOTFOUND",
         f"--user-data-dir={profile}", "--window-size=1400,900",
         "--virtual-time-budget=10000", *flags, url],
        capture_output=True, text=True, timeout=120)


def _rendered(binary: str, url: str, profile: Path) -> str:
    """The DOM after the page's scripts ran, without the scripts (they embed the raw data, which
    would make any text check pass without rendering)."""
    done = _chromium(binary, url, profile, "--dump-dom")
    assert done.returncode == 0, done.stderr[-2000:]
    return re.sub(r"<script\b.*?</script>", "", done.stdout, flags=re.S)


@pytest.fixture(scope="module")
def allure_results(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("tiny")
    (folder / "test_tiny.py").write_text(TINY)
    results = folder / "allure-results"
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:locust",
                           "-p", "no:cacheprovider", f"--alluredir={results}", "test_tiny.py"],
                          cwd=folder, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stdout[-2000:]  # one passes, one fails on purpose
    allure_env.write_categories(results)
    allure_env.write_environment(results, {"run.id": "tiny0000", "allure": "3"})
    return results


@pytest.fixture(scope="module")
def report(allure_results, tmp_path_factory) -> Path:
    output = tmp_path_factory.mktemp("html") / "html"
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "reporting.allure_html",
                           "--results", str(allure_results), "--output", str(output)],
                          cwd=PROJECT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "[report] allure 3." in done.stdout and " in " in done.stdout
    print(done.stdout, f"({time.monotonic() - started:.1f} s with the install)")
    return output / "index.html"


def test_report_is_one_file_that_calls_nowhere(report) -> None:
    page = report.read_text()
    assert not re.search(r'<(?:script|img|iframe)[^>]* src="(?:https?:)?//', page)
    assert not re.search(r'<link[^>]* href="(?:https?:)?//', page)
    assert "googletagmanager" not in page


def test_report_renders_tests_steps_and_categories(chromium, report, tmp_path) -> None:
    url = report.as_uri()  # single-file report: works from file://, no server
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    screenshot = SCREENSHOTS / "allure-report.png"
    screenshot.unlink(missing_ok=True)
    done = _chromium(chromium, url, tmp_path / "profile", f"--screenshot={screenshot}")
    assert done.returncode == 0, done.stderr[-2000:]
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert screenshot.stat().st_size > 10_000

    tree = _rendered(chromium, url, tmp_path / "profile")
    assert "test_probe_sees_the_fault" in tree and "test_alert_never_fires" in tree

    # A test result's page (hash route #<id>) shows its steps.
    ids = json.loads((report.parent / "test-results.json").read_text())["byId"]
    passing = next(i for i, r in ids.items() if r["name"] == "test_probe_sees_the_fault")
    steps = _rendered(chromium, f"{url}#{passing}", tmp_path / "profile")
    assert "inject: stop postgres" in steps and "detect: /ready answers 503" in steps
    shot = SCREENSHOTS / "allure-test-result.png"
    _chromium(chromium, f"{url}#{passing}", tmp_path / "profile", f"--screenshot={shot}")
    assert shot.exists()

    categories = _rendered(chromium, f"{url}#categories", tmp_path / "profile")
    assert "Product defect: alert missing" in categories


def test_missing_results_exit_non_zero_with_a_message(tmp_path, capsys) -> None:
    code = allure_html.main(["--results", str(tmp_path / "none"),
                             "--output", str(tmp_path / "html")])
    assert code != 0
    assert "no Allure results in" in capsys.readouterr().err
