"""scripts/download_models.py against a model store served in-process on 127.0.0.1."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from mmllm.integrity import file_digests
from mmllm.model_store import make_server

from .conftest import SERVICE_DIR, closed_port

SCRIPT = SERVICE_DIR / "scripts" / "download_models.py"


@pytest.fixture(scope="module")
def store_url(model_dir: Path) -> Iterator[str]:
    server = make_server(model_dir, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def download(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the script finds mmllm
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          env=env, cwd=SERVICE_DIR, timeout=60)


def test_download_verifies_and_installs(store_url: str, model_dir: Path, tmp_path: Path) -> None:
    dest = tmp_path / "models"
    result = download("--model", "int2_quantized", "--store", store_url, "--dest", str(dest))
    assert result.returncode == 0, result.stderr
    assert file_digests(dest / "int2_quantized.pth") == file_digests(
        model_dir / "int2_quantized.pth")
    assert (dest / "int2_quantized.manifest.json").read_bytes() == (
        model_dir / "int2_quantized.manifest.json").read_bytes()
    assert sorted(p.name for p in dest.iterdir()) == [
        "int2_quantized.manifest.json", "int2_quantized.pth"]


def test_good_file_is_left_alone_without_force(store_url: str, tmp_path: Path) -> None:
    dest = tmp_path / "models"
    download("--model", "int2_quantized", "--store", store_url, "--dest", str(dest))
    before = (dest / "int2_quantized.pth").stat().st_mtime_ns
    result = download("--model", "int2_quantized", "--store", store_url, "--dest", str(dest))
    assert result.returncode == 0 and "already present" in result.stdout
    assert (dest / "int2_quantized.pth").stat().st_mtime_ns == before
    forced = download("--model", "int2_quantized", "--store", store_url, "--dest", str(dest),
                      "--force")
    assert forced.returncode == 0 and "downloaded" in forced.stdout


def test_corrupted_file_is_replaced(store_url: str, model_dir: Path, tmp_path: Path) -> None:
    dest = tmp_path / "models"
    download("--model", "int2_quantized", "--store", store_url, "--dest", str(dest))
    (dest / "int2_quantized.pth").write_bytes(b"garbage")
    result = download("--model", "int2_quantized", "--store", store_url, "--dest", str(dest))
    assert result.returncode == 0
    assert file_digests(dest / "int2_quantized.pth") == file_digests(
        model_dir / "int2_quantized.pth")


@pytest.mark.parametrize("case", ["unknown-model", "store-down"])
def test_failures_exit_1_and_leave_nothing(store_url: str, tmp_path: Path, case: str) -> None:
    dest = tmp_path / "models"
    dest.mkdir()
    store = store_url if case == "unknown-model" else f"http://127.0.0.1:{closed_port()}"
    name = "no_such_model" if case == "unknown-model" else "int2_quantized"
    result = download("--model", name, "--store", store, "--dest", str(dest))
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1 and result.stderr.startswith("error: ")
    assert list(dest.iterdir()) == []
