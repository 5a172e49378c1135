"""db-down (and any dependency outage): a service's container is stopped."""

from __future__ import annotations

from dataclasses import dataclass

from faults.base import ensure_running, not_running
from fixtures.stack import Stack


@dataclass
class StopContainer:
    service: str = "postgres"
    description: str = "The PostgreSQL container was stopped."

    def inject(self, stack: Stack) -> str:
        stack.container(self.service).stop(timeout=10)
        return f"{self.service} is {stack.container(self.service).status}"

    def revert(self, stack: Stack) -> None:
        ensure_running(stack, self.service)

    def residue(self, stack: Stack) -> list[str]:
        return not_running(stack, self.service)
