"""A dependency restarted for maintenance (a configuration change, an upgrade): down for the
second or two that Compose takes to stop and start it, then back by itself."""

from __future__ import annotations

from dataclasses import dataclass

from faults.base import compose, ensure_running, not_running
from fixtures.stack import Stack


@dataclass
class RestartContainer:
    service: str = "redis"
    description: str = "A dependency was restarted for maintenance."

    def inject(self, stack: Stack) -> str:
        compose(stack, "restart", "--timeout", "10", self.service)
        return f"{self.service} restarted; it is {stack.container(self.service).status}"

    def revert(self, stack: Stack) -> None:
        ensure_running(stack, self.service)

    def residue(self, stack: Stack) -> list[str]:
        return not_running(stack, self.service)
