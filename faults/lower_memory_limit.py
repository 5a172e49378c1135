"""oom: a release lowers the service's memory limit below its footprint.

The deployed docker-compose.yml is edited as a release would change it and applied with
`docker compose up -d`, so Compose recreates the container under the new limit. The kernel
OOM-kills the service while it loads its model, and the restart policy loops. Only the
deployment file can put it right: `up -d` keeps whatever limit the file declares.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass

from faults.base import InjectionFailed, compose
from fixtures.stack import COMPOSE_FILE, Stack


@dataclass
class LowerMemoryLimit:
    service: str = "app-prod"
    limit: str = "40m"
    description: str = "A release lowered the service's memory limit below its footprint."

    def _deployed(self, stack: Stack):
        return stack.deploy_dir / "docker-compose.yml"

    def inject(self, stack: Stack) -> str:
        text = self._deployed(stack).read_text()
        start = text.index(f"\n  {self.service}:\n") + 1
        following = re.search(r"\n  \S", text[start:])  # the next service, or the end
        end = start + following.start() if following else len(text)
        # Limit and reservation both: Compose refuses a reservation above the limit.
        block = text[start:end]
        lowered = re.sub(r"(\n\s+mem_(?:limit|reservation):\s*)\S+", rf"\g<1>{self.limit}",
                         block)
        if lowered == block:
            raise InjectionFailed(f"no mem_limit for {self.service} in docker-compose.yml")
        self._deployed(stack).write_text(text[:start] + lowered + text[end:])
        compose(stack, "up", "-d", self.service)
        return f"released mem_limit: {self.limit} for {self.service} and ran docker compose up -d"

    def revert(self, stack: Stack) -> None:
        if self.residue(stack):
            shutil.copy2(COMPOSE_FILE, self._deployed(stack))
            compose(stack, "up", "-d", self.service)

    def residue(self, stack: Stack) -> list[str]:
        left = []
        if self._deployed(stack).read_text() != COMPOSE_FILE.read_text():
            left.append("the deployed docker-compose.yml differs from the release")
        declared = int(stack.deployed_config()["services"][self.service]["mem_limit"])
        live = stack.container(self.service).attrs["HostConfig"]["Memory"]
        if live != declared:
            left.append(f"{self.service}'s live memory limit is {live}, the file says {declared}")
        return left
