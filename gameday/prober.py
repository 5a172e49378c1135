"""A synthetic prober: health, readiness and a real inference, several times a second.

It runs in a thread from before the fault until after recovery, and its record is what
"detected" and "recovered" are measured from. It stops by itself after `max_seconds`.

Its inference sends the API key `api_key()` returns, asked again for every request: given
`Endpoints.current_key`, that is line 1 of the deployment's keys file, as a client that picks up
a rotated key does. Every key it sees is registered as a secret of the session.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import httpx

from gameday import redact
from gameday.traffic import CLIENT_TIMEOUT

ENDPOINTS = ("health", "ready", "inference")


@dataclass(frozen=True)
class Observation:
    at: float  # unix time the answer (or the error) came back
    endpoint: str
    ok: bool
    status: int | None
    body: str
    request_id: str | None = None
    seconds: float = 0.0  # from the request to its answer (or its error)


class Prober:
    def __init__(self, base_url: str, image_b64: str, interval: float = 0.2,
                 max_seconds: float = 600.0,
                 api_key: Callable[[], str | None] = lambda: None) -> None:
        self.base_url = base_url
        self.api_key = api_key
        self.image_b64 = image_b64
        self.interval = interval
        self.max_seconds = max_seconds
        self.observations: list[Observation] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="prober", daemon=True)
        self._lock = threading.Lock()

    def __enter__(self) -> Prober:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _probe(self, client: httpx.Client, endpoint: str) -> Observation:
        started = time.monotonic()
        try:
            if endpoint == "inference":
                key = self.api_key()
                redact.register(key or "")
                headers = {"Authorization": f"Bearer {key}"} if key else {}
                response = client.post("/model/inference", headers=headers,
                                       json={"image": self.image_b64, "task": "captioning"})
            else:
                response = client.get(f"/{endpoint}")
            request_id = None
            if endpoint == "inference" and response.status_code == 200:
                request_id = response.json().get("request_id")
            return Observation(time.time(), endpoint, response.status_code == 200,
                               response.status_code, response.text[:400], request_id,
                               round(time.monotonic() - started, 4))
        except httpx.HTTPError as error:
            message = f"{type(error).__name__}: {error}"
            return Observation(time.time(), endpoint, False, None, message,
                               seconds=round(time.monotonic() - started, 4))

    def _run(self) -> None:
        deadline = time.monotonic() + self.max_seconds
        with httpx.Client(base_url=self.base_url, timeout=CLIENT_TIMEOUT) as client:
            while not self._stop.is_set() and time.monotonic() < deadline:
                for endpoint in ENDPOINTS:
                    observation = self._probe(client, endpoint)
                    with self._lock:
                        self.observations.append(observation)
                self._stop.wait(self.interval)

    def since(self, start: float) -> list[Observation]:
        with self._lock:
            return [o for o in self.observations if o.at >= start]

    def first(self, start: float, predicate) -> Observation | None:
        return next((o for o in self.since(start) if predicate(o)), None)

    def answered_request_ids(self, start: float) -> list[str]:
        return [o.request_id for o in self.since(start) if o.request_id]

    def timeline(self, start: float) -> list[dict]:
        """Observations where an endpoint changed between ok and failing (for reports)."""
        changes, last = [], {}
        for o in self.since(start):
            if last.get(o.endpoint) != o.ok:
                changes.append({**asdict(o), "t": round(o.at - start, 3)})
                last[o.endpoint] = o.ok
        return changes
