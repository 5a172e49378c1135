"""oom: the app is deployed with a memory limit it outgrows, and the kernel kills it.

A running container's limit cannot drop below what it uses (cgroup v1 answers EBUSY), so the
app is stopped, given a limit below its measured footprint after model load, and started:
it is OOM-killed while it loads, as a deployment with a wrong mem_limit would be.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from faults.base import ensure_running
from fixtures.stack import Stack, declared_memory


@dataclass
class MemoryLimit:
    limit: str = "40m"
    service: str = "app-prod"
    description: str = "The service was started with a memory limit below its footprint."

    def inject(self, stack: Stack) -> str:
        container = stack.container(self.service)
        container.stop(timeout=5)
        container.update(mem_limit=self.limit, memswap_limit=self.limit,
                         mem_reservation=self.limit)
        container.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            container.reload()
            state = container.attrs["State"]
            if not state["Running"]:
                return f"OOMKilled={state['OOMKilled']} exit code {state['ExitCode']}"
            time.sleep(0.1)
        return "still running under the lowered limit"

    def revert(self, stack: Stack) -> None:
        container = stack.container(self.service)
        if container.attrs["HostConfig"]["Memory"] != declared_memory()["mem_limit"]:
            container.update(**declared_memory())
        ensure_running(stack, self.service)

    def residue(self, stack: Stack) -> list[str]:
        live = stack.container(self.service).attrs["HostConfig"]["Memory"]
        wanted = declared_memory()["mem_limit"]
        if live == wanted:
            return []
        return [f"memory limit is {live}, docker-compose.yml says {wanted}"]
