"""The suite's clients follow a key rotation: they send line 1 of the deployment's keys file,
re-read for every request (the prober, the load, the synthetic checks), and every key they see
is a secret of the session. The credential-stuffing scenario is bounded and gets its variants."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import pytest

from faults.credential_stuffing import CredentialStuffing
from fixtures.clients import Endpoints, first_key, wait_until
from gameday import catalog, redact, variants
from gameday.prober import Prober
from gameday.traffic import Load

OLD, NEW = "old-key-" + "o" * 30, "new-key-" + "n" * 30


class _Recorder(BaseHTTPRequestHandler):
    seen: list[str] = []

    def _answer(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        _Recorder.seen.append(self.headers.get("Authorization", ""))
        body = b'{"request_id": "00000000-0000-0000-0000-000000000000", "status": "ok"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> str:
    _Recorder.seen = []
    # A listen backlog for every client at once: past the default 5, a dropped SYN is sent
    # again a second later, and its request, made before a rotation, arrives well after it.
    httpd = type("Server", (ThreadingHTTPServer,), {"request_queue_size": 64})(
        ("127.0.0.1", 0), _Recorder)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()


def rotate_while(keys: Path, wait_for_seen: int) -> None:
    deadline = time.monotonic() + 20
    while len([s for s in _Recorder.seen if s]) < wait_for_seen:
        assert time.monotonic() < deadline, _Recorder.seen
        time.sleep(0.05)
    keys.write_text(f"{NEW}\n{OLD}\n")
    seen = len(_Recorder.seen)
    while len(_Recorder.seen) < seen + wait_for_seen:
        assert time.monotonic() < deadline, _Recorder.seen
        time.sleep(0.05)
    keys.write_text(f"{NEW}\n")


def test_first_key_and_current_key(tmp_path: Path) -> None:
    keys = tmp_path / "api-keys"
    keys.write_text(f"# comment\n\n  {NEW}  \n{OLD}\n")
    assert first_key(keys) == NEW
    assert Endpoints("http://x", api_key=OLD, api_keys_file=str(keys)).current_key() == NEW
    assert Endpoints("http://x", api_key=OLD, api_keys_file=str(tmp_path / "no")
                     ).current_key() == OLD
    assert Endpoints("http://x", api_key=OLD).headers() == {"Authorization": f"Bearer {OLD}"}
    assert Endpoints("http://x").headers() == {}


def test_the_prober_sends_line_1_of_the_keys_file_and_registers_it(server: str,
                                                                   tmp_path: Path) -> None:
    keys = tmp_path / "api-keys"
    keys.write_text(f"{OLD}\n")
    endpoints = Endpoints(server, api_keys_file=str(keys))
    with Prober(server, "x", interval=0.02, api_key=endpoints.current_key):
        rotate_while(keys, 3)
        time.sleep(0.3)
    used = [s for s in _Recorder.seen if s]
    assert used[0] == f"Bearer {OLD}" and used[-1] == f"Bearer {NEW}"
    assert {OLD, NEW} <= redact.KNOWN


def test_the_load_follows_the_keys_file(server: str, tmp_path: Path) -> None:
    keys = tmp_path / "api-keys"
    keys.write_text(f"{OLD}\n")
    with Load(server, rate=40, max_seconds=20, api_keys_file=str(keys)) as load:
        rotate_while(keys, 10)
        # Recorded as the server handles them, not as they were sent: what must hold is the
        # key of the requests sent well after the rotation.
        settled = len(_Recorder.seen) + 10
        wait_until(lambda: len(_Recorder.seen) >= settled + 10, timeout=20)
    load.stop()
    # Names, not the keys: a failure report must not print a secret.
    names = {f"Bearer {OLD}": "old", f"Bearer {NEW}": "new"}
    used = [names.get(s, "none") for s in _Recorder.seen]
    assert used[0] == "old" and set(used[settled:]) == {"new"}, " ".join(used)


def test_the_burst_is_bounded_in_count_and_time() -> None:
    from faults.credential_stuffing import MAX_REQUESTS, MAX_SECONDS
    from fixtures.monitoring import Compression

    entry = catalog.get("credential-stuffing").fault.build()
    assert isinstance(entry, CredentialStuffing)
    drill = SimpleNamespace(compression=Compression(15.0))
    requests, seconds = entry.burst(drill)
    assert requests <= MAX_REQUESTS and seconds == 60.0 <= MAX_SECONDS  # 15m at 1/15
    for bad in ({"rate": 0}, {"rate": 100_000}):
        with pytest.raises(ValueError, match="bounded"):
            CredentialStuffing(**bad)
    for bad in ({"duration": "1h"}, {"rate": 0.001, "duration": "1m"}):
        with pytest.raises(ValueError, match="bounded"):
            CredentialStuffing(**bad).burst(drill)


def test_credential_stuffing_gets_its_broken_variants_and_not_the_lying_health_one() -> None:
    scenario = catalog.get("credential-stuffing")
    applied = {v.name for v in variants.VARIANTS if v.applies(scenario)}
    assert {"alert-rule-removed", "alert-expr-wrong", "runbook-step-removed"} <= applied
    assert "health-always-healthy" not in applied  # no probe signal for /health to hide
    text, line = variants.without_step(scenario)
    assert "--new-key" not in text.splitlines()[line - 1]
    rules = variants._mistyped({"groups": [{"rules": [
        {"alert": "UnauthorizedAccess", "expr": "rate(auth_failures_total[1m]) > 1"}]}]},
        "UnauthorizedAccess")
    assert "auth_failures_total_mistyped" in rules["groups"][0]["rules"][0]["expr"]


def _validating(scenario: catalog.Scenario, failure_at: float, monkeypatch: pytest.MonkeyPatch):
    """A Lifecycle at its validate phase, everything but the prober's record stubbed: the fault
    injected at 100, the runbook started at 200, one failed inference at `failure_at`."""
    from gameday import checks, lifecycle
    from gameday.prober import Observation

    class Record:
        def since(self, start: float) -> list[Observation]:
            return [o for o in (Observation(150.0, "inference", True, 200, "ok"),
                                Observation(failure_at, "inference", False, 401, "invalid"))
                    if o.at >= start]

    run = lifecycle.Lifecycle.__new__(lifecycle.Lifecycle)
    run.scenario, run.prober, run.injected_at, run.recover_started = scenario, Record(), 100, 200
    for name in ("_user_impact", "_no_answer_lost", "_no_unexpected_alert", "_not_restarted",
                 "_fault_flag_seen"):
        monkeypatch.setattr(run, name, lambda *a: {})
    monkeypatch.setattr(run, "_run_section", lambda *a: [])
    monkeypatch.setattr(run, "_resolved", lambda *a: {})
    monkeypatch.setattr(checks, "run_all", lambda endpoints: {})
    run.stack = type("Stack", (), {"endpoints": None})()
    return run


def test_a_rotation_that_fails_a_client_fails_validation(monkeypatch: pytest.MonkeyPatch) -> None:
    """credential-stuffing: never_fails holds through the runbook's rotation too."""
    from gameday.lifecycle import ScenarioFailed

    scenario = catalog.get("credential-stuffing")
    assert scenario.recovery_keeps_serving and "inference" in scenario.never_fails
    run = _validating(scenario, failure_at=250.0, monkeypatch=monkeypatch)
    with pytest.raises(ScenarioFailed, match="inference must keep answering"):
        run.validate()
    # A scenario whose runbook may restart the service is judged until the runbook starts.
    import dataclasses

    relaxed = dataclasses.replace(scenario, recovery_keeps_serving=False)
    assert "runbook" in _validating(relaxed, 250.0, monkeypatch).validate()
