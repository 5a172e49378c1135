"""service-crash: the app's main process dies from SIGKILL, as a crash would end it."""

from __future__ import annotations

from dataclasses import dataclass

from faults.base import ensure_running, not_running
from fixtures.stack import Stack


@dataclass
class KillProcess:
    service: str = "app-prod"
    description: str = "The service's main process was killed with SIGKILL (a crash)."

    def inject(self, stack: Stack) -> str:
        container = stack.container(self.service)
        container.kill(signal="SIGKILL")
        container.reload()
        return f"{self.service} exited with code {container.attrs['State']['ExitCode']}"

    def revert(self, stack: Stack) -> None:
        ensure_running(stack, self.service)

    def residue(self, stack: Stack) -> list[str]:
        return not_running(stack, self.service)
