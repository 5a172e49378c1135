"""What a fault cost users: windows, availability, quantiles, failures by kind, error budget;
and the load itself, bounded and aimed at loopback only."""

from __future__ import annotations

import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from gameday.traffic import Load, Request, impact

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]


def _requests() -> list[Request]:
    ok = [Request(at=100 + i * 0.1, endpoint="inference", status=200, error=None, ms=10 + i,
                  request_id=f"r{i}") for i in range(100)]  # 100..110 s: all fine
    during = [Request(at=110 + i * 0.1, endpoint="inference", status=0 if i % 2 else 503,
                      error="ConnectionRefusedError" if i % 2 else None, ms=1)
              for i in range(20)]  # 110..112 s: the outage
    after = [Request(at=112 + i * 0.1, endpoint="inference", status=200, error=None, ms=30,
                     request_id=f"a{i}") for i in range(10)]
    health = [Request(at=111, endpoint="health", status=0, error="x", ms=1)]
    return ok + during + after + health


def test_impact_splits_the_run_into_windows() -> None:
    cost = impact(_requests(), injected=110, recovered=112, ended=113, factor=15)
    before, during, after = (cost["windows"][w] for w in ("before", "during", "after"))
    assert (before["inferences"], before["failed"], before["availability"]) == (100, 0, 1.0)
    assert during["failed"] == 20 and during["availability"] == 0.0
    assert during["failed_by_kind"] == {"5xx": 10, "connection": 10}
    assert after["failed"] == 0 and after["p50_ms"] == 30
    assert before["p50_ms"] == 60 and before["p99_ms"] == 109
    assert cost["failed_inferences"] == 20


def test_error_budget_is_the_compressed_slo_allowance() -> None:
    cost = impact(_requests(), injected=110, recovered=112, ended=113, factor=15)
    rate = cost["rate_per_second"]
    allowed = 0.005 * rate * 30 * 86400 / 15
    assert cost["error_budget_burned"] == pytest.approx(20 / allowed, rel=1e-3)


class _Ok(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        body = b'{"request_id": "00000000-0000-0000-0000-000000000000"}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


def test_the_load_runs_at_its_rate_and_stops_by_itself() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with Load(f"http://127.0.0.1:{server.server_port}", rate=20, max_seconds=3) as load:
            load.wait_answering(timeout=20)
            assert load.process.wait(timeout=30) == 0  # stopped by itself
        requests = load.stop()
    finally:
        server.shutdown()
    inferences = [r for r in requests if r.endpoint == "inference"]
    assert 30 <= len(inferences) <= 75, len(inferences)  # about 20/s for 3 s
    assert all(r.ok and r.request_id for r in inferences)
    assert any(r.endpoint == "health" for r in requests)


def test_the_load_refuses_any_host_but_loopback(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gameday.traffic_worker", "--host", "http://10.1.2.3:8080",
         "--seconds", "1", "--out", str(tmp_path / "out.jsonl")],
        cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "loopback only" in result.stderr
    assert not (tmp_path / "out.jsonl").exists()


def test_what_the_load_could_send_follows_the_service_speed() -> None:
    """load-missing is judged against what users waiting for their answers could send: the
    rate while the service is fast, fewer while it is slow, the rate when nothing came back."""
    from gameday.traffic import USERS, Request, could_send

    fast = [Request(at=i / 50, endpoint="inference", status=200, error=None, ms=20.0)
            for i in range(500)]
    assert could_send(fast, 0.0, 10.0, 50.0) == 500.0
    slow = [Request(at=i * 0.25, endpoint="inference", status=200, error=None, ms=2500.0)
            for i in range(40)]
    assert could_send(slow, 0.0, 10.0, 50.0) == USERS / 2.5 * 10
    assert could_send([], 0.0, 10.0, 50.0) == 500.0

