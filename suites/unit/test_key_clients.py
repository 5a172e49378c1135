"""The suite's clients follow a key rotation: they send line 1 of the deployment's keys file,
re-read for every request (the prober, the load, the synthetic checks), and every key they see
is a secret of the session. The credential-stuffing scenario is bounded and gets its variants."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from faults.credential_stuffing import CredentialStuffing
from fixtures.clients import Endpoints, first_key
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
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
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
        time.sleep(0.5)
    load.stop()
    used = [s for s in _Recorder.seen if s]
    assert used[0] == f"Bearer {OLD}" and used[-1] == f"Bearer {NEW}"
    assert set(used) == {f"Bearer {OLD}", f"Bearer {NEW}"}


def test_the_burst_is_bounded_in_count_and_time() -> None:
    entry = catalog.get("credential-stuffing").fault.build()
    assert isinstance(entry, CredentialStuffing)
    assert entry.requests <= 1000 and entry.seconds <= 30
    for bad in ({"requests": 0}, {"requests": 100_000}, {"seconds": 0}, {"seconds": 3600}):
        with pytest.raises(ValueError, match="bounded"):
            CredentialStuffing(**bad)


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
