"""credential-stuffing: a client on the stack network tries guessed API keys, many per second.

The burst sends `rate` guesses a second (a rate, as a rule sees it in production) for `duration`
(a production span, compressed like the rules: a drill that kept a production duration would
look `factor` times longer to the compressed windows). It is bounded in count and in time, and
comes from its own container on the deployment's network (labelled
with the run's labels; it removes itself when the burst is over, and revert removes it if it is
still there), so that the app's log names its address, as it would name an attacker's. Each
guess is a fresh random key: every answer must be a 401.

Its residue is the key that was in use when the attack happened: the runbook rotates it, and
until then it counts as exposed. Once the runbook is done it must be refused.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import httpx

from faults.base import client_running, remove_client, start_client
from fixtures.clients import wait_until
from fixtures.stack import APP_PORT, Stack

MAX_REQUESTS = 2000
MAX_SECONDS = 60.0

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
    rate: float = 20.0  # guesses per second
    duration: str = "15m"  # in production; the drill's is this divided by its factor
    description: str = ("A client on the service's network tried hundreds of guessed API keys "
                        "against /model/inference within seconds (credential stuffing).")
    # Guessing exposes the key in use (the runbook must rotate it); a client that mistypes
    # its own key a few times exposes nothing.
    exposes_key: bool = True
    exposed_key: str = ""  # the key in use during the attack: the runbook must rotate it

    def __post_init__(self) -> None:
        if not 0 < self.rate <= MAX_REQUESTS / MAX_SECONDS:
            raise ValueError(f"a burst is bounded: at most {MAX_REQUESTS / MAX_SECONDS:g} "
                             f"guesses a second, not {self.rate:g}")

    def burst(self, stack: Stack) -> tuple[int, float]:
        """Requests and drill seconds of the burst, bounded."""
        seconds = stack.compression.scale(self.duration)
        requests = round(self.rate * seconds)
        if not 0 < requests <= MAX_REQUESTS or not 0 < seconds <= MAX_SECONDS:
            raise ValueError(f"a burst is bounded: 1..{MAX_REQUESTS} requests within "
                             f"{MAX_SECONDS:g}s, not {requests} in {seconds:g}s")
        return requests, seconds

    def name(self, stack: Stack) -> str:
        return f"{stack.project}-credential-stuffing"

    def inject(self, stack: Stack) -> str:
        requests, seconds = self.burst(stack)
        self.exposed_key = stack.api_key if self.exposes_key else ""
        address, first = start_client(
            stack, self.name(stack), SCRIPT, f"http://app-prod:{APP_PORT}/model/inference",
            str(requests), str(seconds))
        return (f"client {self.name(stack)} at {address} sends up to {requests} requests "
                f"with guessed keys over {seconds:g}s ({self.rate:g}/s for {self.duration} "
                f"compressed); {first}")

    def _exposed_key_answer(self, stack: Stack) -> int:
        """The status an inference with the exposed key gets (401 once it is rotated)."""
        return httpx.post(f"{stack.endpoints.app}/model/inference", json={},
                          headers={"Authorization": f"Bearer {self.exposed_key}"},
                          timeout=10).status_code

    def revert(self, stack: Stack) -> None:
        remove_client(stack, self.name(stack))
        if self.exposed_key and self._exposed_key_answer(stack) != 401:
            # The safety net rotates as the runbook would: one fresh key, the exposed one gone.
            stack.api_keys_file.write_text(f"{secrets.token_urlsafe(32)}\n")
            wait_until(lambda: self._exposed_key_answer(stack) == 401, timeout=15,
                       what="the exposed API key refused")

    def residue(self, stack: Stack) -> list[str]:
        left = []
        if client_running(stack, self.name(stack)):  # it removes itself after the burst
            left.append(f"container {self.name(stack)} is still sending")
        if self.exposed_key:
            status = self._exposed_key_answer(stack)
            if status != 401:
                left.append("the API key in use during the attack is still accepted "
                            f"(HTTP {status}): it was not rotated")
        return left
