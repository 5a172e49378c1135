"""Unit tests run on the host: no containers; PostgreSQL and Redis point at closed ports."""

from __future__ import annotations

import dataclasses
import secrets
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

SERVICE_DIR = Path(__file__).resolve().parents[2] / "target" / "service"
sys.path.insert(0, str(SERVICE_DIR))

from mmllm.config import (  # noqa: E402
    AuthConfig,
    Config,
    ModelConfig,
    PostgresConfig,
    RedisConfig,
)
from mmllm.model import build  # noqa: E402

# The API key every test client sends (the keys file make_config writes holds it).
TEST_API_KEY = secrets.token_urlsafe(32)
AUTH = {"Authorization": f"Bearer {TEST_API_KEY}"}


def write_keys(path: Path, *keys: str) -> Path:
    """A keys file as an operator writes it: a comment, then one key per line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("# API keys: line 1 is the one clients use\n"
                    + "".join(f"{key}\n" for key in (keys or (TEST_API_KEY,))))
    return path


def with_key(raw_request: bytes, key: str = TEST_API_KEY) -> bytes:
    """A raw HTTP request with the Authorization header added after its request line."""
    return raw_request.replace(b"\r\n", f"\r\nAuthorization: Bearer {key}\r\n".encode(), 1)


def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("models")
    build(directory)
    return directory


@pytest.fixture
def make_config(model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                ) -> Callable[..., Config]:
    """Config with both databases down and a keys file holding TEST_API_KEY; keyword arguments
    replace server fields (model_dir= the model directory, keys_file= the keys file)."""
    monkeypatch.setenv("MMLLM_OUTBOX_DIR", str(tmp_path / "outbox"))
    default_keys = write_keys(tmp_path / "secrets" / "api-keys")

    def make(model_dir: Path = model_dir, keys_file: Path = default_keys,
             **server: object) -> Config:
        base = Config(
            model=ModelConfig(dir=str(model_dir), watch_interval_seconds=0.1),
            postgres=PostgresConfig(host="127.0.0.1", port=closed_port(), password="pw-secret"),
            redis=RedisConfig(host="127.0.0.1", port=closed_port()),
            auth=AuthConfig(api_keys_file=str(keys_file)),
        )
        return dataclasses.replace(base, server=dataclasses.replace(base.server, **server))

    return make


@pytest.fixture
def client(make_config: Callable[..., Config]) -> Iterator:
    from fastapi.testclient import TestClient
    from mmllm.app import create_app

    with TestClient(create_app(make_config()), headers=AUTH) as test_client:
        yield test_client


@pytest.fixture
def live_server(make_config: Callable[..., Config]) -> Iterator[Callable[..., str]]:
    """Start the real app in uvicorn, with the options `python -m mmllm` uses, on a free local
    port; returns its base URL. Keyword arguments replace server fields."""
    import uvicorn
    from mmllm.__main__ import uvicorn_options
    from mmllm.app import create_app

    servers: list[tuple[uvicorn.Server, threading.Thread]] = []

    def start(**server: object) -> str:
        config = make_config(host="127.0.0.1", port=0, **server)
        instance = uvicorn.Server(uvicorn.Config(create_app(config), **uvicorn_options(config)))
        thread = threading.Thread(target=instance.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not instance.started:
            assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        servers.append((instance, thread))
        port = instance.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    yield start
    for instance, thread in servers:
        instance.should_exit = True
        thread.join(timeout=10)
