"""db-down (and any dependency outage): a service is stopped with Compose."""

from __future__ import annotations

from dataclasses import dataclass

from faults.base import compose, ensure_running, not_running
from fixtures.stack import Stack


@dataclass
class StopContainer:
    service: str = "postgres"
    description: str = "A dependency's container was stopped."

    def inject(self, stack: Stack) -> str:
        compose(stack, "stop", "--timeout", "10", self.service)
        return f"{self.service} is {stack.container(self.service).status}"

    def revert(self, stack: Stack) -> None:
        ensure_running(stack, self.service)

    def residue(self, stack: Stack) -> list[str]:
        return not_running(stack, self.service)
