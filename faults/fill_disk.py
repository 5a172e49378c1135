"""disk-full: a job writes a large file to the service's data volume until its disk is full.

Disks fill in the wild because some file grows: an export, a dump, a log nobody rotates. Here
the file is written from the operator toolbox, which mounts the data volume, until the kernel
answers ENOSPC. In the drill that volume sits on a small disk of its own
(fixtures/data_disk.py); the deployment's volume is on the host's disk.
"""

from __future__ import annotations

from dataclasses import dataclass

from faults.base import InjectionFailed
from fixtures.stack import Stack


@dataclass
class FillDisk:
    path: str = "/app/data/exports/nightly-export.bin"
    description: str = ("A job wrote a large export to the service's data volume until the disk "
                        "holding it was full.")

    def inject(self, stack: Stack) -> str:
        # dd fails once the disk is full: that failure is the fault, the df after it the proof.
        result = stack.toolbox(f"mkdir -p $(dirname {self.path}); "
                               f"dd if=/dev/zero of={self.path} bs=1M status=none 2>&1; "
                               f"df -k /app/data")
        if "No space left on device" not in result.output:
            raise InjectionFailed(f"the data volume did not fill: {result.output.strip()}")
        return result.output.strip()

    def revert(self, stack: Stack) -> None:
        stack.toolbox(f"rm -f {self.path}")

    def residue(self, stack: Stack) -> list[str]:
        left = stack.toolbox(f"test -e {self.path}").exit_code == 0
        return [f"{self.path} is still on the data volume"] if left else []
