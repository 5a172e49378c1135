"""Whatever a client sends, the answer is 200 or 4xx, never 5xx, and the service lives on.

Property tests against the real app in this process, without Docker: any bytes, any JSON value of
any depth and size up to the body limit, any content type and header (TestClient); truncated and
malformed requests on real sockets (uvicorn). The same strategies run against a live stack in
suites/properties/test_inference_fuzz.py.
"""

from __future__ import annotations

import dataclasses
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mmllm.app import create_app
from mmllm.config import AuthConfig, Config, ModelConfig, PostgresConfig, RedisConfig

from suites.properties import strategies as s

from .conftest import AUTH, closed_port, with_key, write_keys

MAX_IMAGE_BYTES = 48 * 1024
LIMIT = s.body_limit(MAX_IMAGE_BYTES)
FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture(scope="module")
def app_client(model_dir: Path, tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[TestClient]:
    config = Config(
        model=ModelConfig(dir=str(model_dir)),
        postgres=PostgresConfig(host="127.0.0.1", port=closed_port(), password="pw-secret"),
        redis=RedisConfig(host="127.0.0.1", port=closed_port()),
        auth=AuthConfig(api_keys_file=str(write_keys(
            tmp_path_factory.mktemp("secrets") / "api-keys"))),
    )
    config = dataclasses.replace(config, server=dataclasses.replace(
        config.server, max_image_bytes=MAX_IMAGE_BYTES))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MMLLM_OUTBOX_DIR", str(tmp_path_factory.mktemp("outbox")))
        with TestClient(create_app(config), raise_server_exceptions=False, headers=AUTH) as client:
            yield client
            # The service lives on, and its own books agree: no 5xx, no "error".
            assert client.get("/alive").status_code == 200
            assert {k: v for k, v in s.server_errors(client.get("/metrics").text).items()
                    if v} == {}


def check(response: httpx.Response) -> None:
    assert response.status_code == 200 or 400 <= response.status_code < 500, response.text[:300]
    assert response.headers["content-type"].startswith("application/json")
    json.loads(response.content)


@FUZZ
@given(body=s.bodies(LIMIT), content_type=s.content_types, extra=s.headers)
def test_any_body_content_type_and_header_is_200_or_4xx(app_client: TestClient, body: bytes,
                                                        content_type: bytes, extra: dict) -> None:
    check(app_client.post("/model/inference", content=body,
                          headers={**extra, "content-type": content_type}))


@FUZZ
@given(body=s.inference_like)
def test_inference_shaped_bodies_are_200_or_4xx(app_client: TestClient, body: dict) -> None:
    check(app_client.post("/model/inference", content=s.to_json(body),
                          headers={"content-type": "application/json"}))


@settings(max_examples=60, deadline=None)
@given(method=st.sampled_from(["GET", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]),
       path=st.sampled_from(["/model/inference", "/nowhere", "/metrics/x", "/alive"]),
       extra=s.headers)
def test_other_methods_and_paths_are_4xx_or_200(app_client: TestClient, method: str, path: str,
                                                extra: dict) -> None:
    assert app_client.request(method, path, headers=extra).status_code < 500


@pytest.fixture
def server_url(live_server) -> Iterator[str]:
    url = live_server(max_image_bytes=MAX_IMAGE_BYTES, body_read_timeout_seconds=0.3)
    yield url
    assert httpx.get(f"{url}/alive", timeout=5).status_code == 200
    metrics = httpx.get(f"{url}/metrics", timeout=5).text
    assert {k: v for k, v in s.server_errors(metrics).items() if v} == {}


@settings(max_examples=80, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(request=s.raw_requests(LIMIT))
def test_truncated_and_malformed_requests_on_the_wire_are_never_5xx(server_url: str,
                                                                    request) -> None:
    data, close_side = request
    data = with_key(data)  # authenticated: what follows the headers is what is tested
    parts = urlsplit(server_url)
    with socket.create_connection((parts.hostname, parts.port), timeout=5) as sock:
        sock.sendall(data)
        if close_side:
            sock.shutdown(socket.SHUT_WR)
        try:
            answer = sock.recv(64)
        except (TimeoutError, ConnectionResetError):
            answer = b""
    if answer.startswith(b"HTTP/1.1 "):
        assert answer[9:10] != b"5", answer
