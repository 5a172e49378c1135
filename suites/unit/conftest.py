"""Unit tests run on the host: no containers; PostgreSQL and Redis point at closed ports."""

from __future__ import annotations

import dataclasses
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

SERVICE_DIR = Path(__file__).resolve().parents[2] / "target" / "service"
sys.path.insert(0, str(SERVICE_DIR))

from mmllm.config import Config, ModelConfig, PostgresConfig, RedisConfig  # noqa: E402
from mmllm.model import build  # noqa: E402


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
    """Config with both databases down; keyword arguments replace server/model fields."""
    monkeypatch.setenv("MMLLM_OUTBOX_DIR", str(tmp_path / "outbox"))

    def make(model_dir: Path = model_dir, **server: object) -> Config:
        base = Config(
            model=ModelConfig(dir=str(model_dir), watch_interval_seconds=0.1),
            postgres=PostgresConfig(host="127.0.0.1", port=closed_port(), password="pw-secret"),
            redis=RedisConfig(host="127.0.0.1", port=closed_port()),
        )
        return dataclasses.replace(base, server=dataclasses.replace(base.server, **server))

    return make


@pytest.fixture
def client(make_config: Callable[..., Config]) -> Iterator:
    from fastapi.testclient import TestClient
    from mmllm.app import create_app

    with TestClient(create_app(make_config())) as test_client:
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
