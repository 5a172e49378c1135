"""What every fault injector offers the lifecycle: inject, revert, and a residue check.

`revert` must be safe to call at any time and more than once: the lifecycle calls it after
every scenario, whether the runbook's recovery already undid the fault or the test failed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from fixtures.stack import Stack


class Fault(Protocol):
    #: one sentence for the incident report's root cause
    description: str

    def inject(self, stack: Stack) -> str:
        """Cause the fault; return what the injection itself observed (evidence)."""

    def revert(self, stack: Stack) -> None:
        """Undo the fault if anything of it is left."""

    def residue(self, stack: Stack) -> list[str]:
        """What of the fault is still there (empty when nothing is)."""


def ensure_running(stack: Stack, service: str) -> None:
    container = stack.container(service)
    if container.status != "running":
        container.start()


def not_running(stack: Stack, service: str) -> list[str]:
    """The residue of a fault that stopped a service: the service not running again."""
    status = stack.container(service).status
    return [] if status == "running" else [f"{service} is {status}"]
