"""What a fault costs the service's users, measured from a bounded load that runs through the
whole scenario (gameday/traffic_worker.py, in its own process).

Per window (before the fault, during it, after recovery): availability of inferences, latency
quantiles, failures by kind (5xx, connection errors, 4xx), and the share of the error budget the
fault burned against the SLO, with the SLO's 30-day period compressed like the monitoring.
"""

from __future__ import annotations

import json
import select
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
READY = "first inference answered"  # what the worker prints when the baseline may start
# How long a client waits for an answer before it gives up (the load's users and the prober
# alike): above the service's longest wait on a dependency (connect_timeout_seconds 2 s + 1 s
# for the query, then the outbox answers), so that a request the service answers slowly but
# surely counts as answered; a hang still shows as a timeout.
CLIENT_TIMEOUT = 5.0
SLO_TARGET = 0.995  # of inferences succeed ...
SLO_PERIOD_SECONDS = 30 * 86400  # ... over 30 days (compressed with the drill)
DEFAULT_RATE = 50.0  # inferences per second
# The rate is split over this many users, each waiting for its answers. Fewer than the service
# admits at once (config `server`: running + queued), leaving room for the prober and the
# synthetic monitor's inferences: when a dependency stalls every request at once, the drill's
# own clients must not be what overflows the queue.
USERS = 7


@dataclass
class Request:
    at: float
    endpoint: str
    status: int
    error: str | None
    ms: float
    request_id: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def kind(self) -> str:
        if self.status == 0:
            return "connection"
        return "ok" if self.ok else ("5xx" if self.status >= 500 else "4xx")


class Load:
    """A bounded load in a subprocess; a context manager that always stops it."""

    def __init__(self, base_url: str, rate: float, max_seconds: float,
                 headers: dict[str, str] | None = None, api_keys_file: str | None = None,
                 directory: Path | None = None) -> None:
        self.base_url, self.rate, self.max_seconds = base_url, rate, max_seconds
        self.headers = headers or {}
        self.api_keys_file = api_keys_file  # its line 1 is the key, followed through rotations
        # In the run's work directory when given: if this process is killed, the sweep of its
        # run removes the record too.
        self.out = Path(tempfile.mkstemp(prefix="gameday-load-", suffix=".jsonl",
                                         dir=directory)[1])
        self.process: subprocess.Popen | None = None
        self.requests: list[Request] = []

    def __enter__(self) -> Load:
        args = [sys.executable, "-m", "gameday.traffic_worker", "--host", self.base_url,
                "--rate", str(self.rate), "--seconds", str(self.max_seconds),
                "--out", str(self.out)]
        for name, value in self.headers.items():
            args += ["--header", f"{name}:{value}"]
        if self.api_keys_file:
            args += ["--api-keys-file", self.api_keys_file]
        self.process = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True)
        return self

    def wait_answering(self, timeout: float = 30.0) -> None:
        """Until the load has had its first inference answered: the baseline starts there."""
        assert self.process is not None and self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        line = self.process.stdout.readline() if ready else ""
        if line.strip() != READY:
            raise TimeoutError(f"the load had no inference answered within {timeout:.0f}s")

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> list[Request]:
        if self.process is None:
            return self.requests
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            _, errors = self.process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            _, errors = self.process.communicate()
        self.process = None
        text = self.out.read_text() if self.out.exists() else ""
        self.out.unlink(missing_ok=True)
        self.requests = [Request(**json.loads(line)) for line in text.splitlines() if line]
        if not self.requests and errors:
            raise RuntimeError(f"the load recorded nothing: {errors.strip()[-500:]}")
        return self.requests

    def acknowledged(self) -> set[str]:
        return {r.request_id for r in self.requests if r.request_id}


def could_send(requests: list[Request], start: float, end: float, rate: float) -> float:
    """Inferences the load's users could have sent from `start` to `end`: the rate, or fewer
    where the service was slow (each user waits for its answer: 10 users and 2.5 s answers
    send 4 a second). Far fewer recorded than this is the load failing, not the service."""
    seconds = [r.ms / 1000 for r in requests
               if r.endpoint == "inference" and start <= r.at < end]
    capacity = USERS * len(seconds) / sum(seconds) if seconds and sum(seconds) > 0 else rate
    return min(rate, capacity) * max(end - start, 0.0)


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


@dataclass
class Window:
    name: str
    start: float
    end: float
    requests: list[Request] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        inferences = [r for r in self.requests if r.endpoint == "inference"]
        failed = [r for r in inferences if not r.ok]
        latencies = [r.ms for r in inferences if r.ok]
        kinds: dict[str, int] = {}
        for r in failed:
            kinds[r.kind] = kinds.get(r.kind, 0) + 1
        return {
            "seconds": round(self.end - self.start, 3),
            "inferences": len(inferences),
            "failed": len(failed),
            "failed_by_kind": kinds,
            "availability": round(1 - len(failed) / len(inferences), 5) if inferences else None,
            "p50_ms": _quantile(latencies, 0.50),
            "p95_ms": _quantile(latencies, 0.95),
            "p99_ms": _quantile(latencies, 0.99),
        }


def impact(requests: list[Request], injected: float, recovered: float, ended: float,
           factor: float) -> dict[str, Any]:
    """The fault's cost: windows before, during (injection to recovery) and after, and the
    share of the compressed error budget its failed inferences burned."""
    first = min((r.at for r in requests), default=injected)
    windows = [Window("before", first, injected), Window("during", injected, recovered),
               Window("after", recovered, ended)]
    for request in requests:
        for window in windows:
            if window.start <= request.at < window.end:
                window.requests.append(request)
    summaries = {w.name: w.summary() for w in windows}
    inferences = [r for r in requests if r.endpoint == "inference"]
    span = max((r.at for r in inferences), default=first) - first
    rate = len(inferences) / span if span > 0 else 0.0
    budget = (1 - SLO_TARGET) * rate * SLO_PERIOD_SECONDS / factor  # failures the SLO allows
    failed = summaries["during"]["failed"] + summaries["after"]["failed"]
    return {
        "slo": f"{SLO_TARGET:.1%} of inferences over {SLO_PERIOD_SECONDS // 86400} days "
               f"(compressed by {factor:g})",
        "rate_per_second": round(rate, 2),
        "failed_inferences": failed,
        "error_budget_burned": round(failed / budget, 6) if budget else None,
        "windows": summaries,
    }
