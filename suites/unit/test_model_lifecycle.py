"""A verified model keeps serving when its file goes bad on disk; the failure is still reported.

The app runs in-process (TestClient) with a model watcher polling every 0.1 s.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from mmllm.app import create_app

from .conftest import AUTH
from .test_app import RED_CIRCLE

MODEL = "int2_quantized.pth"


def flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:1000])


def metric(client: TestClient, name: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"no metric {name}")


def eventually(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "not reached in time"
        time.sleep(0.05)


@pytest.fixture
def models(model_dir: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "models"
    shutil.copytree(model_dir, copy)
    return copy


@pytest.fixture
def client(make_config, models: Path) -> Iterator[TestClient]:
    with TestClient(create_app(make_config(model_dir=models)), headers=AUTH) as test_client:
        assert test_client.get("/health").json()["checks"]["model"]["status"] == "ok"
        yield test_client


def infer(client: TestClient):
    return client.post("/model/inference", json={"image": RED_CIRCLE, "task": "captioning"})


@pytest.mark.parametrize("damage", [flip_a_byte, truncate, Path.unlink])
def test_a_damaged_file_does_not_unload_the_verified_model(client: TestClient, models: Path,
                                                           damage) -> None:
    damage(models / MODEL)
    for path in ("/health", "/ready"):
        response = client.get(path)
        assert response.status_code == 503
        model_check = response.json()["checks"]["model"]
        assert model_check["status"] == "fail"
        assert "int2_quantized" in model_check["error"]
        assert model_check["serving"]["name"] == "int2_quantized"

    eventually(lambda: metric(client, "model_load_failures_total") == 1)  # the reload failed
    response = infer(client)
    assert response.status_code == 200, response.text
    assert response.json()["result"] == "a red circle on a white background"
    assert metric(client, "model_loaded") == 1
    assert metric(client, "model_file_verified") == 0  # ModelLoadFailure fires on this
    time.sleep(0.3)
    assert metric(client, "model_load_failures_total") == 1  # once per bad file, not per poll


def test_a_good_file_again_clears_the_failure(client: TestClient, models: Path,
                                              model_dir: Path) -> None:
    flip_a_byte(models / MODEL)
    eventually(lambda: metric(client, "model_load_failures_total") == 1)
    shutil.copy(model_dir / MODEL, models / MODEL)
    eventually(lambda: client.get("/health").json()["checks"]["model"]["status"] == "ok")
    assert metric(client, "model_file_verified") == 1 and metric(client, "model_loaded") == 1
    assert infer(client).status_code == 200


def test_a_change_that_keeps_size_and_mtime_is_still_detected(client: TestClient,
                                                              models: Path) -> None:
    path = models / MODEL
    before = path.stat()
    flip_a_byte(path)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_size == before.st_size
    response = client.get("/health")
    assert response.status_code == 503
    assert "checksum mismatch" in response.json()["checks"]["model"]["error"]
    eventually(lambda: metric(client, "model_load_failures_total") == 1)


def test_a_start_with_a_bad_file_has_no_model(make_config, models: Path) -> None:
    truncate(models / MODEL)
    with TestClient(create_app(make_config(model_dir=models)), headers=AUTH) as c:
        health = c.get("/health")
        assert health.status_code == 503
        assert "truncated" in health.json()["checks"]["model"]["error"]
        response = infer(c)
        assert response.status_code == 503
        assert response.json()["error"].startswith("model not loaded: ")
        assert metric(c, "model_loaded") == 0 and metric(c, "model_file_verified") == 0
        assert metric(c, "model_load_failures_total") == 1
