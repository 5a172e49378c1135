"""bad-config: an invalid config/production.yml is deployed and the service restarted."""

from __future__ import annotations

import io
import tarfile
from dataclasses import dataclass

import httpx
import yaml

from faults.base import InjectionFailed, compose, ensure_running
from fixtures.clients import wait_until
from fixtures.stack import Stack

CONFIG_DIR = "/app/config"
RELEASED = "/app/release/config/production.yml"
READY_TIMEOUT = 60.0  # a valid release restarts and loads the model well within this


@dataclass
class BadConfig:
    field: str = "server.port"
    value: object = 99999
    description: str = "A configuration with server.port out of range was deployed."

    def _write(self, stack: Stack, text: str) -> None:
        """Into the config volume, through the toolbox that mounts it (as a release would)."""
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            data = text.encode()
            info = tarfile.TarInfo("production.yml")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        stack.container("toolbox").put_archive(CONFIG_DIR, buffer.getvalue())

    def _released(self, stack: Stack) -> str:
        return stack.toolbox(f"cat {RELEASED}").output

    def inject(self, stack: Stack) -> str:
        config = yaml.safe_load(self._released(stack))
        section, key = self.field.split(".")
        config[section][key] = self.value
        self._write(stack, yaml.safe_dump(config, sort_keys=False))
        compose(stack, "restart", "--timeout", "5", "app-prod")
        return f"deployed {self.field}={self.value!r} and restarted app-prod"

    def release_and_wait_ready(self, stack: Stack) -> str:
        """The release (valid, unlike bad-config's), then the service ready under it: the
        faults that ship a valid but harmful setting start their traffic from here."""
        released = BadConfig.inject(self, stack)
        try:
            wait_until(lambda: httpx.get(f"{stack.endpoints.app}/ready", timeout=5)
                       .status_code == 200, timeout=READY_TIMEOUT,
                       what="app-prod ready after the release")
        except TimeoutError as error:
            raise InjectionFailed(str(error)) from None
        return released

    def revert(self, stack: Stack) -> None:
        if self.residue(stack):
            self._write(stack, self._released(stack))
            compose(stack, "restart", "--timeout", "5", "app-prod")
        ensure_running(stack, "app-prod")

    def residue(self, stack: Stack) -> list[str]:
        same = stack.toolbox(f"cmp -s {CONFIG_DIR}/production.yml {RELEASED}").exit_code == 0
        return [] if same else ["config/production.yml differs from the released configuration"]
