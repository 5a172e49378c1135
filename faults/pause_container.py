"""db-hung: a service hangs. Its processes are frozen (the cgroup freezer): the kernel still
accepts TCP connections to it, but nothing ever answers, and open connections stall."""

from __future__ import annotations

from dataclasses import dataclass

from faults.base import compose, ensure_running
from fixtures.stack import Stack


@dataclass
class PauseContainer:
    service: str = "postgres"
    description: str = "A dependency hung: connections accepted, never answered."

    def inject(self, stack: Stack) -> str:
        compose(stack, "pause", self.service)
        return f"{self.service} is {stack.container(self.service).status}"

    def revert(self, stack: Stack) -> None:
        ensure_running(stack, self.service)

    def residue(self, stack: Stack) -> list[str]:
        status = stack.container(self.service).status
        return [] if status == "running" else [f"{self.service} is {status}"]
