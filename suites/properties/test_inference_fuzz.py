"""Whatever a client sends, the service answers 200 or 4xx, never a 5xx, and lives on.

Against a live deployment (the stack's, or --target-url), with the unconstrained strategies of
strategies.py: any bytes, any JSON of any depth and size up to the production body limit, any
content type and header, and requests cut short on the wire. The same properties run in-process
in suites/unit/test_inference_properties.py.
"""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import httpx
import pytest
from hypothesis import HealthCheck, given, settings

from suites.properties import strategies as s

pytestmark = [pytest.mark.stack, pytest.mark.property]

LIMIT = s.body_limit(8 * 1024 * 1024)  # production server.max_image_bytes
FUZZ = settings(max_examples=120, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow, HealthCheck.data_too_large])


def metrics(app: str) -> str:
    return httpx.get(f"{app}/metrics", timeout=10).text


def start_time(text: str) -> float:
    return next(float(line.split()[1]) for line in text.splitlines()
                if line.startswith("process_start_time_seconds "))


_BEFORE: dict[str, str] = {}


@pytest.fixture
def before(endpoints) -> str:
    """The app's metrics before the first fuzz test of this module: its start time and its
    server-error counters."""
    return _BEFORE.setdefault(endpoints.app, metrics(endpoints.app))


def post(endpoints, body: bytes, headers: dict) -> httpx.Response:
    # The service reads a body for at most 10 s; a queue full of fuzz may answer 503 overloaded.
    # With the deployment's key: what follows the headers is what is fuzzed.
    return httpx.post(f"{endpoints.app}/model/inference", content=body,
                      headers={**headers, **endpoints.headers()}, timeout=30)


def with_key(raw_request: bytes, endpoints) -> bytes:
    """The raw request with the Authorization header after its request line."""
    header = "".join(f"\r\n{k}: {v}" for k, v in endpoints.headers().items()).encode()
    return raw_request.replace(b"\r\n", header + b"\r\n", 1)


def check(response: httpx.Response) -> None:
    assert response.status_code == 200 or 400 <= response.status_code < 500, response.text[:300]
    assert response.headers["content-type"].startswith("application/json")


@FUZZ
@given(body=s.bodies(LIMIT), content_type=s.content_types, extra=s.headers)
def test_any_body_content_type_and_header_is_200_or_4xx(endpoints, before, body, content_type,
                                                        extra) -> None:
    check(post(endpoints, body, {**extra, "content-type": content_type}))


@FUZZ
@given(body=s.inference_like)
def test_inference_shaped_bodies_are_200_or_4xx(endpoints, before, body) -> None:
    check(post(endpoints, s.to_json(body), {"content-type": "application/json"}))


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(request=s.raw_requests(LIMIT))
def test_requests_cut_short_on_the_wire_are_never_5xx(endpoints, before, request) -> None:
    data, close_side = request
    data = with_key(data, endpoints)
    parts = urlsplit(endpoints.app)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(data)
        if close_side:
            sock.shutdown(socket.SHUT_WR)
        sock.settimeout(2)  # a body that never completes gets 408 only after 10 s: stop waiting
        try:
            answer = sock.recv(64)
        except (TimeoutError, ConnectionResetError):
            answer = b""
    if answer.startswith(b"HTTP/1.1 "):
        assert answer[9:10] != b"5", answer


def test_the_service_survived_the_fuzzing(endpoints, before) -> None:
    """Runs after the fuzz tests in this module: the same process answers, and counted no
    server error while it was fuzzed."""
    assert httpx.get(f"{endpoints.app}/alive", timeout=5).status_code == 200
    after = metrics(endpoints.app)
    assert start_time(after) == start_time(before)
    assert s.server_errors(after) == s.server_errors(before)
