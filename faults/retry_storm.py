"""retry-storm: one client on the network calls the service hundreds of times a second.

The way it happens in the wild: a client release retries its connectivity check in a tight
loop, from every device behind one address. The storm comes from its own container on the
deployment's network (so that the app's access log names its address), over kept-alive
connections, paced to `rate` requests per second over `threads` connections, and it stops by
itself after `duration` (a production span, compressed like the rules). Revert removes it if it
is still sending.

A storm is anomalous against what came before it. AnomalousTraffic compares with the hour
that ended 10 minutes ago: a service with no history that far back has no baseline, and a
storm soon after another one is compared with a baseline that holds the first. So the storm
begins once Prometheus holds `history` of the service's traffic and that traffic, averaged
over the last `quiet` (production spans, compressed like the rules), is under a quarter of
the storm's rate (the storm and the usual traffic together then pass four times the usual
with a margin: the rule's bar). That is at once in a game day, after about a minute on a
stack started for this scenario alone, and a few minutes after an earlier storm.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from faults.base import client_running, remove_client, start_client
from fixtures.clients import PrometheusClient, wait_until
from fixtures.stack import APP_PORT, Stack

MAX_RATE = 1000.0
MAX_SECONDS = 180.0

# Runs in the client container: stdlib only. Prints "first answer" once, then a summary.
SCRIPT = r"""
import collections, http.client, sys, threading, time
host, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
rate, seconds, threads = float(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6])
codes, lock, started = collections.Counter(), threading.Lock(), time.monotonic()
interval = threads / rate

def storm(k):
    conn, i = None, 0
    while True:
        at = started + (i + k / threads) * interval
        if at - started > seconds:
            break
        now = time.monotonic()
        if at > now:
            time.sleep(at - now)
        elif now - at > 1.0:  # fallen behind: the client drops, it does not burst to catch up
            i = int((now - started) / interval)
            continue
        try:
            conn = conn or http.client.HTTPConnection(host, port, timeout=5)
            conn.request("GET", path)
            answer = conn.getresponse()
            answer.read()
            code = answer.status
        except (OSError, http.client.HTTPException) as error:
            code, conn = type(error).__name__, conn.close()
        with lock:
            codes[code] += 1
            if sum(codes.values()) == 1:
                print("first answer", dict(codes), flush=True)
        i += 1

workers = [threading.Thread(target=storm, args=(k,)) for k in range(threads)]
for worker in workers:
    worker.start()
for worker in workers:
    worker.join()
took = time.monotonic() - started
print("done", sum(codes.values()), "requests in", round(took, 1), "s:", dict(codes),
      round(sum(codes.values()) / took), "per second", flush=True)
"""


@dataclass
class RetryStorm:
    rate: float = 400.0  # requests per second, as a rule sees them in production too
    duration: str = "45m"  # in production; the drill's is this divided by its factor
    path: str = "/alive"
    threads: int = 8
    history: str = "15m"  # of the service's traffic in Prometheus before the storm begins
    # ... over which that traffic must average under a quarter of `rate` (a storm that must
    # stand out); empty for a surge that is meant to stay under the rule's bar
    quiet: str = "70m"
    description: str = ("A client release retried its connectivity check in a tight loop: one "
                        "address sent hundreds of requests per second.")

    def __post_init__(self) -> None:
        if not 0 < self.rate <= MAX_RATE:
            raise ValueError(f"a storm is bounded: at most {MAX_RATE:g}/s, not {self.rate:g}/s")

    def seconds(self, stack: Stack) -> float:
        """The storm's length in the drill, bounded."""
        seconds = stack.compression.scale(self.duration)
        if not 0 < seconds <= MAX_SECONDS:
            raise ValueError(f"a storm is bounded: at most {MAX_SECONDS:g}s in the drill, not "
                             f"{seconds:g}s ({self.duration} compressed)")
        return seconds

    def name(self, stack: Stack) -> str:
        return f"{stack.project}-retry-storm"

    def prepare(self, stack: Stack) -> str:
        """Wait for a baseline the storm stands out from: `history` of traffic, calm enough."""
        history = stack.compression.scale(self.history)
        quiet = stack.compression.scale(self.quiet or self.history)
        prometheus = PrometheusClient(stack.endpoints.prometheus)
        counter = 'http_requests_total{job="mobile-multimodal-app"}'
        # storm + usual then pass 4 x usual, the rule's bar; a surge needs no calm before it
        calm_below = self.rate / 4 if self.quiet else float("inf")
        usual: list[float] = []

        def calm_with_history() -> bool:
            if not prometheus.query(f"count({counter} offset {history:.0f}s)"):
                return False
            found = prometheus.query(f"sum(rate({counter}[{quiet:.0f}s]))")
            usual[:] = [float(found[0]["value"][1])] if found else []
            return bool(usual) and usual[0] < calm_below

        started = time.monotonic()
        wait_until(calm_with_history, quiet + history + 30,
                   what=f"{self.history} of the service's traffic in Prometheus, averaging under "
                        f"{calm_below:g}/s over {self.quiet}")
        return (f"waited {time.monotonic() - started:.0f}s for a baseline "
                f"({usual[0]:.0f}/s over {self.quiet or self.history})")

    def inject(self, stack: Stack) -> str:
        seconds = self.seconds(stack)
        prepared = self.prepare(stack)  # at once when the lifecycle has already waited
        address, first = start_client(
            stack, self.name(stack), SCRIPT, "app-prod", str(APP_PORT), self.path,
            str(self.rate), str(seconds), str(self.threads))
        return (f"{prepared}; client {self.name(stack)} at {address} sends GET {self.path} at "
                f"{self.rate:g}/s for up to {seconds:g}s ({self.duration} compressed); {first}")

    def revert(self, stack: Stack) -> None:
        remove_client(stack, self.name(stack))

    def residue(self, stack: Stack) -> list[str]:
        if client_running(stack, self.name(stack)):
            return [f"container {self.name(stack)} is still sending"]
        return []
