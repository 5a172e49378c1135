"""redis-restart-during-db-outage: a dependency is down, inferences are acknowledged into the
outbox, then another dependency (the outbox's own store) restarts.

The acknowledged request ids are kept: the lifecycle's data check demands every one of them
in PostgreSQL exactly once after recovery.
"""

from __future__ import annotations

import base64
import concurrent.futures
import time
from dataclasses import dataclass, field

import httpx
from mmllm.testimages import red_circle_png

from faults.base import InjectionFailed, compose, ensure_running, not_running
from fixtures.stack import Stack

MAX_SECONDS = 60.0  # the burst is bounded in time as well as in count
CONCURRENCY = 4


@dataclass
class RestartDuringOutage:
    down: str = "postgres"
    restarted: str = "redis"
    acknowledged: int = 200
    description: str = ("PostgreSQL was down while inferences were acknowledged into the "
                        "outbox, and Redis restarted during the outage.")
    acknowledged_ids: list[str] = field(default_factory=list)

    def _infer(self, client: httpx.Client, image: str) -> str | None:
        try:
            answer = client.post("/model/inference", json={"image": image, "task": "captioning"})
        except httpx.HTTPError:
            return None
        return answer.json().get("request_id") if answer.status_code == 200 else None

    def _acknowledge(self, stack: Stack) -> None:
        deadline = time.monotonic() + MAX_SECONDS
        image = base64.b64encode(red_circle_png()).decode()
        with httpx.Client(base_url=stack.endpoints.app, timeout=5,
                          headers=stack.endpoints.headers()) as client, \
                concurrent.futures.ThreadPoolExecutor(CONCURRENCY) as pool:
            while len(self.acknowledged_ids) < self.acknowledged:
                if time.monotonic() > deadline:
                    raise InjectionFailed(f"only {len(self.acknowledged_ids)} inferences "
                                          f"acknowledged in {MAX_SECONDS:.0f}s")
                batch = pool.map(lambda _: self._infer(client, image), range(CONCURRENCY * 5))
                self.acknowledged_ids += [rid for rid in batch if rid]

    def inject(self, stack: Stack) -> str:
        compose(stack, "stop", "--timeout", "10", self.down)
        self._acknowledge(stack)
        compose(stack, "restart", self.restarted)
        return (f"{self.down} stopped; {len(self.acknowledged_ids)} inferences acknowledged; "
                f"{self.restarted} restarted")

    def revert(self, stack: Stack) -> None:
        ensure_running(stack, self.down)
        ensure_running(stack, self.restarted)

    def residue(self, stack: Stack) -> list[str]:
        return not_running(stack, self.down) + not_running(stack, self.restarted)
