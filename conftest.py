"""Game Day's pytest plugin: options, markers, the scenario catalog's selection, thin fixtures.

The stack is session-scoped and restored between scenarios: after each one the fault is
reverted and the stack must be healthy again (app healthy, Prometheus scraping, no alert
active); if it is not, it is replaced by a new one.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")
os.environ.setdefault("TC_HOST", "127.0.0.1")
os.environ.setdefault("TESTCONTAINERS_CONNECTION_MODE", "docker_host")  # /.dockerenv misleads it

from fixtures.clients import Endpoints  # noqa: E402
from gameday import catalog  # noqa: E402

if TYPE_CHECKING:
    from fixtures.stack_manager import StackManager

pytest_plugins = ("pytester",)  # suites/reports/test_output_scan.py runs inner sessions

MARKERS = {
    "unit": "no container needed",
    "rules": "promtool checks of the real monitoring rules (in the Prometheus image)",
    "stack": "needs the testcontainers stack",
    "scenario": "a game-day scenario run end to end on the stack",
    "broken_variant": "a scenario run against deliberately broken detection/alerting/recovery",
    "synthetic": "validation checks that also run against an existing deployment",
    "property": "hypothesis property tests against the live service",
    "load": "bounded locust load run",
    "report": "report generation and rendering",
    "explore": "random fault sequences on the live stack (make explore)",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gameday")
    group.addoption("--scenario", action="append", default=[],
                    help="run only this catalog scenario (repeatable)")
    group.addoption("--shard", metavar="I/N", help="only the scenarios of shard I of N "
                    "(a stable split of the catalog, for one runner of many)")
    group.addoption("--run-id", help="the run's id (shards of one game day share it); "
                    "default: a new one")
    group.addoption("--load-rate", type=float, default=None,
                    help="inferences per second of the load that runs through every scenario "
                         "(0: none; default gameday.traffic.DEFAULT_RATE)")
    group.addoption("--variants", choices=("all", "sample"), default="all",
                    help="broken variants: every case, or each kind of breakage once")
    group.addoption("--explore-examples", type=int, default=10,
                    help="make explore: how many fault sequences to try")
    group.addoption("--explore-variant", choices=("no-outbox", "no-store"),
                    help="make explore: deploy this known-bad build first")
    group.addoption("--target-url", help="synthetic checks against this existing deployment")
    group.addoption("--prometheus-url", help="its Prometheus, for the synthetic checks")
    group.addoption("--alertmanager-url", help="its Alertmanager, for the synthetic checks")
    group.addoption("--alert-rules", type=Path, default=None,
                    help="evaluate these alert rules instead of target/monitoring/alerts.yml "
                         "(to prove a broken rule fails the game day)")
    group.addoption("--time-compression", type=float, default=None,
                    help="every monitoring duration is divided by this on the stack "
                         "(default: fixtures.monitoring.DEFAULT_FACTOR)")


def _stopped(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def pytest_configure(config: pytest.Config) -> None:
    for name, help_text in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {help_text}")
    # SIGTERM (make abort, a CI runner's cancel, gameday.jobs) stops the run as Ctrl-C does:
    # the fault in force is reverted, the journal says `aborted`, the stack is taken down.
    signal.signal(signal.SIGTERM, _stopped)
    from gameday import redact
    from reporting.output_scan import OutputScan

    # pytest's own output (terminal, captured output, JUnit) is scanned for the session's secrets
    config.pluginmanager.register(OutputScan(lambda: redact.KNOWN), "gameday-output-scan")
    for name in config.getoption("--scenario"):
        if name not in catalog.BY_NAME:
            raise pytest.UsageError(str(catalog.UnknownScenario(name)))
    if config.getoption("--shard"):
        try:
            catalog.shard(catalog.SCENARIOS, config.getoption("--shard"))
        except ValueError as error:
            raise pytest.UsageError(str(error)) from None


# Fast, container-free tests first; then the healthy stack; then the faults.
ORDER = ("suites/unit", "suites/reports", "suites/stack/test_smoke", "suites/synthetic",
         "suites/properties", "suites/load", "suites/scenarios/test_scenarios",
         "suites/scenarios/test_broken_variants", "suites/scenarios/test_categories_via_make",
         "suites/explore", "suites/stack/test_cleanup")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        path = item.nodeid
        return next((i for i, prefix in enumerate(ORDER) if path.startswith(prefix)), len(ORDER))

    items.sort(key=rank)  # stable: keeps the order within a file


def shard_suffix(spec: str | None) -> str:
    """Shard 2/3's stack is <game day id>-2of3: shards on one engine never share a project."""
    return "-{}of{}".format(*spec.split("/")) if spec else ""


def selected_scenarios(config: pytest.Config) -> list[catalog.Scenario]:
    names = config.getoption("--scenario")
    chosen = [s for s in catalog.SCENARIOS if not names or s.name in names]
    spec = config.getoption("--shard")
    return catalog.shard(tuple(chosen), spec) if spec else chosen


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "scenario" in metafunc.fixturenames:
        chosen = selected_scenarios(metafunc.config)
        metafunc.parametrize("scenario", chosen, ids=[s.name for s in chosen])


# ---- the stack ----------------------------------------------------------------------------
@pytest.fixture(scope="session")
def stack_manager(request: pytest.FixtureRequest) -> Iterator[StackManager]:
    from fixtures.stack_manager import StackManager
    from gameday import redact

    manager = StackManager(request.config.getoption("--time-compression"),
                           request.config.getoption("--alert-rules"),
                           run_id=request.config.getoption("--run-id"),
                           stack_suffix=shard_suffix(request.config.getoption("--shard")),
                           # every secret known to every writer before anything is written
                           on_created=lambda stack: redact.register(stack.db_password,
                                                                    stack.initial_api_key))
    request.config.stash[_MANAGER] = manager
    yield manager
    manager.close()


_MANAGER = pytest.StashKey[object]()
_JOURNALS = pytest.StashKey[list]()
JOURNALS_DIR = Path(__file__).resolve().parent / "reports" / "journals"  # reporting.REPORTS


@pytest.fixture(scope="session")
def load_rate(request: pytest.FixtureRequest) -> float:
    from gameday.traffic import DEFAULT_RATE

    rate = request.config.getoption("--load-rate")
    return DEFAULT_RATE if rate is None else rate


@pytest.fixture(scope="session")
def observers(request: pytest.FixtureRequest) -> tuple:
    """What watches every lifecycle run: Allure, the console, the journal file. The journals
    are kept in memory for the session's reports."""
    from gameday.observers import AllureSteps, ConsoleProgress, JournalFile

    kept = request.config.stash.setdefault(_JOURNALS, [])
    return (AllureSteps(), ConsoleProgress(), JournalFile(JOURNALS_DIR, kept))


@pytest.fixture
def stack(stack_manager: StackManager):
    """The session's stack, healthy at the start of the test and restored after it."""
    yield stack_manager.get()
    stack_manager.restore()


@pytest.fixture
def endpoints(request: pytest.FixtureRequest) -> Endpoints:
    """An existing deployment given by --target-url, or else the stack's."""
    url = request.config.getoption("--target-url")
    if url:
        from gameday import redact

        api_key = os.environ.get("MMLLM_API_KEY") or None  # `make synthetic key=...`
        redact.register(api_key or "")
        return Endpoints(app=url.rstrip("/"),
                         prometheus=request.config.getoption("--prometheus-url"),
                         alertmanager=request.config.getoption("--alertmanager-url"),
                         api_key=api_key)
    return request.getfixturevalue("stack").endpoints


@pytest.fixture
def postgres(stack):
    """A psycopg connection to the stack's PostgreSQL (as the app's user)."""
    import psycopg

    with psycopg.connect(stack.endpoints.postgres_dsn, autocommit=True) as connection:
        yield connection


@pytest.fixture
def redis_client(stack):
    import redis

    client = redis.Redis.from_url(stack.endpoints.redis_url, socket_timeout=5)
    yield client
    client.close()


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config.stash[_STARTED] = time.time()


_STARTED = pytest.StashKey[float]()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Allure environment and categories, incident reports, the summary; then a secret scan."""
    results = session.config.getoption("allure_report_dir", None)
    if not results or session.config.getoption("--collect-only"):
        return
    from gameday import redact
    from reporting import session as report_session

    manager = session.config.stash.get(_MANAGER, None)
    try:
        written = report_session.finish(
            Path(results), manager.properties if manager else {},
            journals=session.config.stash.get(_JOURNALS, []), secrets=sorted(redact.KNOWN),
            started=session.config.stash[_STARTED])
    except redact.SecretLeak as leak:
        session.config.get_terminal_writer().line(f"SECRET LEAK: {leak}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        return
    summaries = [p for p in written if p.parent.name == "summary" and p.suffix == ".md"]
    for path in summaries[-1:]:
        session.config.get_terminal_writer().line(f"\ngame-day summary: {path}")


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    manager = config.stash.get(_MANAGER, None)
    if manager is None or not any(manager.figures.values()):
        return
    terminalreporter.section("game day: stack figures")
    for name, values in manager.figures.items():
        if values:
            values = sorted(values)
            terminalreporter.write_line(
                f"stack {name:8} n={len(values):2}  median {values[len(values) // 2]:6.1f}s  "
                f"max {values[-1]:6.1f}s")
