"""service-crash: the service's main process dies from a signal, as a crash would end it.

The signal goes to the process on the host, as the kernel or a crash would end it, not
through `docker kill` or `docker stop`: the engine then sees an unexpected exit and the
deployment's restart policy decides what happens next.
"""

from __future__ import annotations

import os
import signal as signals
from dataclasses import dataclass

from faults.base import InjectionFailed, ensure_running, not_running
from fixtures.stack import Stack


@dataclass
class KillProcess:
    service: str = "app-prod"
    signal: str = "SIGKILL"
    description: str = "The service's main process was killed by a signal (a crash)."

    def inject(self, stack: Stack) -> str:
        container = stack.container(self.service)
        pid = container.attrs["State"]["Pid"]
        if not pid:
            raise InjectionFailed(f"{self.service} has no running process to kill")
        os.kill(pid, getattr(signals, self.signal))
        return f"sent {self.signal} to {self.service}'s main process (host pid {pid})"

    def revert(self, stack: Stack) -> None:
        ensure_running(stack, self.service)

    def residue(self, stack: Stack) -> list[str]:
        return not_running(stack, self.service)
