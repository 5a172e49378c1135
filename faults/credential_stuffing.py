"""credential-stuffing: a client on the stack network tries guessed API keys, many per second.

The burst is bounded in count and in time (at most `requests` requests, evenly spread over at
most `seconds` seconds) and comes from its own container on the deployment's network (labelled
with the run's labels; it removes itself when the burst is over, and revert removes it if it is
still there), so that the app's log names its address, as it would name an attacker's. Each
guess is a fresh random key: every answer must be a 401.

Its residue is the key that was in use when the attack happened: the runbook rotates it, and
until then it counts as exposed. Once the runbook is done it must be refused.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

import docker.errors
import httpx

from faults.base import InjectionFailed
from fixtures.clients import wait_until
from fixtures.stack import APP_PORT, Stack

CLIENT_IMAGE = "gameday/python:latest"
MAX_REQUESTS = 2000
MAX_SECONDS = 60.0
START_TIMEOUT = 15.0

# Runs in the client container: stdlib only. Prints one summary line at the end.
SCRIPT = r"""
import collections, secrets, sys, time, urllib.error, urllib.request
url, count, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
body = b'{"image": "iVBORw0KGgo=", "task": "captioning"}'
codes = collections.Counter()
started = time.monotonic()
for i in range(count):
    wait = started + i * seconds / count - time.monotonic()
    if wait > 0:
        time.sleep(wait)
    if time.monotonic() - started > seconds:
        break
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json",
        "Authorization": "Bearer " + secrets.token_urlsafe(32)})
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            codes[answer.status] += 1
    except urllib.error.HTTPError as error:
        codes[error.code] += 1
    except OSError as error:
        codes[type(error).__name__] += 1
    if i == 0:
        print("first answer", dict(codes), flush=True)
print("done", sum(codes.values()), "requests in", round(time.monotonic() - started, 1), "s:",
      dict(codes), flush=True)
"""


@dataclass
class CredentialStuffing:
    requests: int = 300
    seconds: float = 15.0
    description: str = ("A client on the service's network tried hundreds of guessed API keys "
                        "against /model/inference within seconds (credential stuffing).")
    exposed_key: str = ""  # the key in use during the attack: the runbook must rotate it

    def __post_init__(self) -> None:
        if not 0 < self.requests <= MAX_REQUESTS or not 0 < self.seconds <= MAX_SECONDS:
            raise ValueError(f"a burst is bounded: 1..{MAX_REQUESTS} requests within "
                             f"{MAX_SECONDS:g}s, not {self.requests} in {self.seconds:g}s")

    def name(self, stack: Stack) -> str:
        return f"{stack.project}-credential-stuffing"

    def inject(self, stack: Stack) -> str:
        self.exposed_key = stack.api_key
        network = f"{stack.project}_default"
        client = stack.docker.containers.run(
            CLIENT_IMAGE,
            ["python3", "-c", SCRIPT, f"http://app-prod:{APP_PORT}/model/inference",
             str(self.requests), str(self.seconds)],
            name=self.name(stack), detach=True, labels=stack.labels, network=network,
            auto_remove=True,
        )
        deadline = time.monotonic() + START_TIMEOUT
        try:
            while b"first answer" not in client.logs():
                client.reload()
                if client.status == "exited" or time.monotonic() > deadline:
                    raise InjectionFailed(f"the stuffing client did not get a first answer: "
                                          f"{client.logs().decode(errors='replace')[-500:]}")
                time.sleep(0.1)
            client.reload()
            address = client.attrs["NetworkSettings"]["Networks"][network]["IPAddress"]
            first = client.logs().decode(errors="replace").strip().splitlines()[0]
        except docker.errors.NotFound:  # removed itself: it ended before it answered
            raise InjectionFailed("the stuffing client ended before its first answer") from None
        return (f"client {self.name(stack)} at {address} sends up to {self.requests} requests "
                f"with guessed keys over {self.seconds:g}s; {first}")

    def _client(self, stack: Stack):
        try:
            return stack.docker.containers.get(self.name(stack))
        except docker.errors.NotFound:
            return None

    def _exposed_key_answer(self, stack: Stack) -> int:
        """The status an inference with the exposed key gets (401 once it is rotated)."""
        return httpx.post(f"{stack.endpoints.app}/model/inference", json={},
                          headers={"Authorization": f"Bearer {self.exposed_key}"},
                          timeout=10).status_code

    def revert(self, stack: Stack) -> None:
        client = self._client(stack)
        if client is not None:
            client.remove(force=True)
        if self.exposed_key and self._exposed_key_answer(stack) != 401:
            # The safety net rotates as the runbook would: one fresh key, the exposed one gone.
            stack.api_keys_file.write_text(f"{secrets.token_urlsafe(32)}\n")
            wait_until(lambda: self._exposed_key_answer(stack) == 401, timeout=15,
                       what="the exposed API key refused")

    def residue(self, stack: Stack) -> list[str]:
        left = []
        if self._client(stack) is not None:  # it removes itself once the burst is over
            left.append(f"container {self.name(stack)} is still sending")
        if self.exposed_key:
            status = self._exposed_key_answer(stack)
            if status != 401:
                left.append("the API key in use during the attack is still accepted "
                            f"(HTTP {status}): it was not rotated")
        return left
