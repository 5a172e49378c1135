"""Build the Allure HTML report from reports/allure-results into reports/html, offline.

    python -m reporting.allure_html [--results DIR] [--output DIR]

Uses Allure 3 (the npm package `allure`), installed on first use into reports/.node (or
$GAMEDAY_ALLURE_PREFIX). Allure 3's `generate` runs the "awesome" plugin; with singleFile it
writes one index.html with the data and scripts inlined, which opens from file:// with no
server and no network.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from reporting import REPORTS, allure_env

RESULTS = REPORTS / "allure-results"
OUTPUT = REPORTS / "html"
PREFIX = Path(os.environ.get("GAMEDAY_ALLURE_PREFIX", REPORTS / ".node"))
PACKAGE = "allure@3"
REPORT_NAME = "Game Day"


class ReportError(RuntimeError):
    """Something the person running `make report` must fix; the message says what."""


def _cli(prefix: Path) -> Path:
    return prefix / "node_modules" / "allure" / "cli.js"


def installed_version(prefix: Path = PREFIX) -> str | None:
    manifest = prefix / "node_modules" / "allure" / "package.json"
    try:
        return json.loads(manifest.read_text())["version"]
    except (OSError, ValueError, KeyError):
        return None


def ensure_allure(prefix: Path = PREFIX) -> str:
    """Allure 3 under `prefix`, installed from the npm registry if missing; its version."""
    version = installed_version(prefix)
    if version and version.split(".")[0] == "3" and _cli(prefix).exists():
        return version
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise ReportError("node and npm are needed to build the Allure report (Node 20+)")
    prefix.mkdir(parents=True, exist_ok=True)
    print(f"[report] installing {PACKAGE} into {prefix} ...", flush=True)
    started = time.monotonic()
    done = subprocess.run([npm, "install", "--no-save", "--no-audit", "--no-fund",
                           "--loglevel=error", "--prefix", str(prefix), PACKAGE],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise ReportError(f"npm install {PACKAGE} failed ({done.returncode}):\n"
                          f"{done.stderr.strip()[-2000:]}")
    version = installed_version(prefix)
    if not version:
        raise ReportError(f"npm installed {PACKAGE} but {_cli(prefix)} is missing")
    print(f"[report] installed allure {version} in {time.monotonic() - started:.1f} s")
    return version


def count_results(results: Path) -> int:
    return sum(1 for _ in results.glob("*-result.json"))


def _clear(output: Path, results: Path) -> None:
    """Empty the previous report; refuse anything that holds the results or this project."""
    output, results = output.resolve(), results.resolve()
    if output in (Path("/"), Path.home(), REPORTS.parent) or output in results.parents \
            or output == results:
        raise ReportError(f"refusing to replace {output}: choose an output folder of its own")
    if output.exists():
        shutil.rmtree(output)


def generate(results: Path = RESULTS, output: Path = OUTPUT, prefix: Path = PREFIX) -> Path:
    """Generate the single-file report; returns its index.html."""
    if not results.is_dir() or count_results(results) == 0:
        raise ReportError(f"no Allure results in {results}: run the tests first "
                          f"(make test or make gameday writes them with --alluredir)")
    version = ensure_allure(prefix)
    _clear(output, results)
    config = prefix / "allurerc.json"
    config.write_text(json.dumps({
        "name": REPORT_NAME,
        "output": str(output.resolve()),
        # Allure 3's awesome report takes its categories from the config: it reads a
        # categories.json in the results only for the Allure 2 (classic) plugin.
        "categories": _categories(results),
        "plugins": {"awesome": {"options": {"singleFile": True, "reportName": REPORT_NAME,
                                            "reportLanguage": "en"}}},
    }, indent=2))
    env = {**os.environ, "NO_COLOR": "1", "FORCE_COLOR": "0"}
    command = ["node", str(_cli(prefix)), "generate", "--config", str(config),
               "--output", str(output.resolve()), str(results.resolve())]
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, env=env,
                          cwd=str(prefix))  # cwd: allure must not pick up another allurerc
    seconds = time.monotonic() - started
    index = output / "index.html"
    if done.returncode != 0 or not index.exists():
        raise ReportError(f"allure generate failed ({done.returncode}):\n"
                          f"{(done.stdout + done.stderr).strip()[-3000:]}")
    stripped = strip_analytics(index)
    stats = _stats(output)
    print(f"[report] allure {version} generate (awesome, single file): "
          f"{count_results(results)} results from {results} -> {index} "
          f"({index.stat().st_size / 1e6:.1f} MB) in {seconds:.1f} s{stats}"
          + ("; removed its Google Analytics tag" if stripped else ""))
    return index


# Allure 3's awesome template always adds a Google Analytics tag (`analyticsEnable: true` is
# hard-coded in @allurereport/plugin-awesome 3.x). A report of our incidents must not call
# out when opened, and must not wait for the network: the tag goes.
_ANALYTICS = re.compile(
    r'\s*<script async src="https://www\.googletagmanager\.com/[^"]*"></script>'
    r"\s*<script>\s*window\.dataLayer[\s\S]*?</script>")


def strip_analytics(index: Path) -> bool:
    """Remove the analytics tag from a generated index.html; whether there was one."""
    page = index.read_text(encoding="utf-8")
    cleaned, count = _ANALYTICS.subn("", page, count=1)
    if count:
        index.write_text(cleaned, encoding="utf-8")
    if 'src="https://www.googletagmanager.com' in cleaned:
        raise ReportError(f"{index}: the analytics tag changed shape and could not be removed")
    return bool(count)


def _categories(results: Path) -> list[dict]:
    """The results' categories.json (written by the session), else the suite's own."""
    try:
        rules = json.loads((results / "categories.json").read_text())
    except (OSError, ValueError):
        rules = allure_env.categories()
    keys = ("name", "messageRegex", "traceRegex", "matchedStatuses", "flaky")
    return [{k: rule[k] for k in keys if k in rule} for rule in rules if rule.get("name")]


def _stats(output: Path) -> str:
    try:
        stats = json.loads((output / "summary.json").read_text())["stats"]
    except (OSError, ValueError, KeyError):
        return ""
    return "; tests: " + ", ".join(f"{v} {k}" for k, v in stats.items())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument("--prefix", type=Path, default=PREFIX,
                        help="where the npm package allure is (installed if missing)")
    args = parser.parse_args(argv)
    try:
        generate(args.results, args.output, args.prefix)
    except ReportError as error:
        print(f"[report] {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
