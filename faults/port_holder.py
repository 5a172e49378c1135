"""port-conflict: another process holds the app's published port when the app starts."""

from __future__ import annotations

from dataclasses import dataclass

import docker.errors

from faults.base import ensure_running
from fixtures.stack import APP_PORT, Stack


@dataclass
class PortHolder:
    description: str = "Another container held the service's published port when it started."

    def name(self, stack: Stack) -> str:
        return f"{stack.project}-port-holder"

    def inject(self, stack: Stack) -> str:
        app = stack.container("app-prod")
        app.stop(timeout=5)
        port = stack.ports["app-prod"]
        stack.docker.containers.run(
            stack.images["python"], ["python3", "-m", "http.server", str(APP_PORT)],
            name=self.name(stack), detach=True, labels=stack.labels,
            ports={f"{APP_PORT}/tcp": ("127.0.0.1", port)},
        )
        try:
            app.start()
        except docker.errors.APIError as error:
            return f"app-prod could not start: {error.explanation or error}"
        return "app-prod started although its port was held"

    def _holder(self, stack: Stack):
        try:
            return stack.docker.containers.get(self.name(stack))
        except docker.errors.NotFound:
            return None

    def revert(self, stack: Stack) -> None:
        holder = self._holder(stack)
        if holder is not None:
            holder.remove(force=True)
        ensure_running(stack, "app-prod")

    def residue(self, stack: Stack) -> list[str]:
        return [f"container {self.name(stack)} still exists"] if self._holder(stack) else []
