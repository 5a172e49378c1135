"""port-conflict: another container holds the service's published port when it starts."""

from __future__ import annotations

from dataclasses import dataclass

import docker.errors

from faults.base import compose, ensure_running
from fixtures.stack import APP_PORT, Stack

HOLDER_IMAGE = "python"  # this checkout's Python runtime (stack.image_refs)


@dataclass
class HoldPort:
    service: str = "app-prod"
    description: str = "Another container held the service's published port when it started."

    def name(self, stack: Stack) -> str:
        return f"{stack.project}-port-holder"

    def inject(self, stack: Stack) -> str:
        compose(stack, "stop", "--timeout", "5", self.service)
        stack.docker.containers.run(
            stack.image_refs[HOLDER_IMAGE], ["python3", "-m", "http.server", str(APP_PORT)],
            name=self.name(stack), detach=True, labels=stack.labels,
            ports={f"{APP_PORT}/tcp": ("127.0.0.1", stack.ports[self.service])},
        )
        started = stack.run_compose("up", "-d", self.service)  # as a deploy would
        if started.returncode == 0:
            return f"{self.service} started although its port was held"
        return f"{self.service} could not start: {started.stderr.strip()[-300:]}"

    def _holder(self, stack: Stack):
        try:
            return stack.docker.containers.get(self.name(stack))
        except docker.errors.NotFound:
            return None

    def revert(self, stack: Stack) -> None:
        holder = self._holder(stack)
        if holder is not None:
            holder.remove(force=True)
            compose(stack, "up", "-d", self.service)
        ensure_running(stack, self.service)

    def residue(self, stack: Stack) -> list[str]:
        return [f"container {self.name(stack)} still exists"] if self._holder(stack) else []
