"""API keys: /model/inference needs `Authorization: Bearer <key>`; the probes and /metrics stay
open; 401s are counted by reason and logged with the client's address; two keys may be active
so a key is rotated without downtime; the keys file is re-read when it changes."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from mmllm import auth
from mmllm.app import create_app
from mmllm.config import Config, ConfigError, parse
from mmllm.logs import JsonFormatter

from suites.properties import strategies as s

from .conftest import SERVICE_DIR, TEST_API_KEY, write_keys
from .test_app import RED_CIRCLE

PRODUCTION = SERVICE_DIR.parent / "config" / "production.yml"
BODY = {"image": RED_CIRCLE, "task": "captioning"}
OTHER_KEY = auth.new_key()


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def metric(client: TestClient, line_start: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(line_start + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no metric line {line_start}")


@pytest.fixture
def keys_file(tmp_path: Path) -> Path:
    return write_keys(tmp_path / "keys" / "api-keys", TEST_API_KEY)


@pytest.fixture
def anonymous(make_config: Callable[..., Config], keys_file: Path) -> Iterator[TestClient]:
    """A client that sends no key unless told to."""
    with TestClient(create_app(make_config(keys_file=keys_file))) as client:
        yield client


def infer(client: TestClient, headers: dict[str, str] | None = None):
    return client.post("/model/inference", json=BODY, headers=headers or {})


# ---- 401 by reason ------------------------------------------------------------------------
@pytest.mark.parametrize(("headers", "reason"), [
    ({}, "missing"),
    ({"Authorization": ""}, "missing"),
    ({"Authorization": f"Basic {TEST_API_KEY}"}, "malformed"),
    ({"Authorization": "Bearer"}, "malformed"),
    ({"Authorization": "Bearer two words"}, "malformed"),
    ({"Authorization": "Bearer k\u00e9y-latin-1-\u00ff-0123456789".encode("latin-1")},
     "malformed"),
    ({"Authorization": f"Bearer {'A' * 5000}"}, "malformed"),
    ({"Authorization": f"Bearer {OTHER_KEY}"}, "invalid"),
    ({"Authorization": f"Bearer {TEST_API_KEY[:-1]}"}, "invalid"),
    ({"Authorization": f"Bearer {TEST_API_KEY}x"}, "invalid"),
], ids=["no-header", "empty", "basic-scheme", "no-token", "two-tokens", "latin-1", "huge",
        "unknown-key", "key-prefix", "key-plus-one"])
def test_inference_without_a_valid_key_is_401_counted_by_reason(
        anonymous: TestClient, headers: dict, reason: str) -> None:
    response = infer(anonymous, headers)
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.headers["content-type"] == "application/json"
    assert response.json()["detail"] == {"reason": reason}
    assert metric(anonymous, f'auth_failures_total{{reason="{reason}"}}') == 1
    others = [r for r in auth.REASONS if r != reason]
    assert all(metric(anonymous, f'auth_failures_total{{reason="{r}"}}') == 0 for r in others)


def test_a_valid_key_is_answered(anonymous: TestClient) -> None:
    response = infer(anonymous, bearer(TEST_API_KEY))
    assert response.status_code == 200, response.text
    assert infer(anonymous, {"Authorization": f"bearer   {TEST_API_KEY}  "}).status_code == 200
    assert metric(anonymous, 'auth_failures_total{reason="invalid"}') == 0


def test_a_401_is_never_a_server_error_nor_an_inference_request(anonymous: TestClient) -> None:
    """A flood of bad keys must not page as errors, nor dilute the error ratio."""
    for headers in ({}, bearer(OTHER_KEY), {"Authorization": "Token x"}):
        assert infer(anonymous, headers).status_code == 401
    text = anonymous.get("/metrics").text
    assert {k: v for k, v in s.server_errors(text).items() if v} == {}
    requests = [line for line in text.splitlines()
                if line.startswith("model_inference_requests_total{")]
    assert requests and all(line.endswith(" 0.0") for line in requests), requests
    assert 'http_requests_total{handler="/model/inference",method="POST",status="401"} 3.0' \
        in text


def test_a_401_is_logged_with_the_client_address_never_the_key(
        anonymous: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="mmllm.app"):
        infer(anonymous, bearer(OTHER_KEY))
    record = next(r for r in caplog.records if "Unauthorized request from" in r.getMessage())
    assert record.getMessage() == "Unauthorized request from testclient (invalid)"
    assert (record.client, record.reason) == ("testclient", "invalid")
    assert OTHER_KEY not in caplog.text


@pytest.mark.parametrize("path", ["/health", "/alive", "/ready", "/metrics"])
def test_probes_and_metrics_need_no_key(anonymous: TestClient, path: str) -> None:
    assert anonymous.get(path).status_code != 401


def test_the_active_keys_never_reach_the_logs(anonymous: TestClient) -> None:
    record = logging.makeLogRecord({"msg": f"header was Bearer {TEST_API_KEY}"})
    assert TEST_API_KEY not in JsonFormatter().format(record)


# ---- constant time ------------------------------------------------------------------------
def test_every_active_key_is_compared_in_constant_time_without_early_exit(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    keys = auth.ApiKeys(write_keys(tmp_path / "api-keys", TEST_API_KEY, OTHER_KEY))
    compared: list[tuple[bytes, bytes]] = []
    real = auth.hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", spy)
    assert keys.check(f"Bearer {TEST_API_KEY}") is None  # matches the first key: still both
    assert len(compared) == 2
    assert keys.check(f"Bearer {OTHER_KEY}") is None
    assert keys.check("Bearer " + "x" * 40) == "invalid"
    assert len(compared) == 6
    assert {len(a) for a, b in compared} == {len(b) for a, b in compared} == {32}  # digests


# ---- rotation and reload ------------------------------------------------------------------
def test_two_keys_rotate_without_downtime(anonymous: TestClient, keys_file: Path) -> None:
    new = auth.new_key()
    write_keys(keys_file, new, TEST_API_KEY)  # the new key on line 1, the old one still active
    assert infer(anonymous, bearer(new)).status_code == 200  # at once: no restart, no wait
    assert infer(anonymous, bearer(TEST_API_KEY)).status_code == 200
    write_keys(keys_file, new)  # every client on line 1: the old line goes
    assert infer(anonymous, bearer(TEST_API_KEY)).status_code == 401
    assert infer(anonymous, bearer(new)).status_code == 200


@pytest.mark.parametrize("content", ["", "# only a comment\n\n", "not a key\n",
                                     "\n".join(auth.new_key() for _ in range(3))],
                         ids=["empty", "comment-only", "invalid-line", "three-keys"])
def test_a_bad_reload_keeps_the_keys_in_force_and_logs_an_error(
        anonymous: TestClient, keys_file: Path, content: str,
        caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="mmllm.auth"):
        keys_file.write_text(content)
        os.utime(keys_file, ns=(1, 1))  # a change even within the same clock tick
        assert infer(anonymous, bearer(TEST_API_KEY)).status_code == 200
    errors = [r.getMessage() for r in caplog.records if r.name == "mmllm.auth"]
    assert errors and errors[0].startswith("API keys not reloaded: ")
    assert "stay active" in errors[0]
    write_keys(keys_file, OTHER_KEY)  # a good file again is taken
    assert infer(anonymous, bearer(OTHER_KEY)).status_code == 200
    assert infer(anonymous, bearer(TEST_API_KEY)).status_code == 401


def test_a_replaced_file_is_seen(anonymous: TestClient, keys_file: Path) -> None:
    """The operator's rotation writes a new file and renames it over the old one."""
    fresh = keys_file.with_name("api-keys.new")
    write_keys(fresh, OTHER_KEY)
    fresh.replace(keys_file)
    assert infer(anonymous, bearer(OTHER_KEY)).status_code == 200
    assert infer(anonymous, bearer(TEST_API_KEY)).status_code == 401


def test_the_monitor_thread_reloads_without_a_request(
        anonymous: TestClient, keys_file: Path, caplog: pytest.LogCaptureFixture) -> None:
    import time

    with caplog.at_level(logging.INFO, logger="mmllm.auth"):
        write_keys(keys_file, OTHER_KEY, TEST_API_KEY)
        deadline = time.monotonic() + 5
        while "API keys reloaded: 2 active" not in caplog.text:
            assert time.monotonic() < deadline, caplog.text
            time.sleep(0.05)


# ---- start: no key is a configuration error -----------------------------------------------
@pytest.mark.parametrize(("content", "says"), [
    (None, "not found"),
    ("", "no key in"),
    ("# nothing yet\n\n", "no key in"),
    ("short\n", "line 1 of"),
    ("# comment\nhas a space in it 0123456789\n", "line 2 of"),
    ("\n".join(auth.new_key() for _ in range(3)), "at most 2"),
    (f"{TEST_API_KEY}\n{TEST_API_KEY}\n", "same key"),
], ids=["missing-file", "empty", "comments-only", "too-short", "bad-characters", "three-keys",
        "duplicate"])
def test_a_start_without_a_valid_key_is_a_configuration_error(
        make_config: Callable[..., Config], tmp_path: Path, model_dir: Path,
        content: str | None, says: str) -> None:
    path = tmp_path / "bad" / "api-keys"
    if content is not None:
        path.parent.mkdir()
        path.write_text(content)
    with pytest.raises(ConfigError) as info:
        create_app(make_config(keys_file=path))
    assert info.value.field == "auth.api_keys_file"
    assert says in info.value.reason
    assert info.value.message().startswith("Configuration error: auth.api_keys_file: ")
    assert "\n" not in info.value.message() and TEST_API_KEY not in info.value.message()
    env = {"MODEL_DIR": str(model_dir), "POSTGRES_PASSWORD": "pw",
           "MMLLM_API_KEYS_FILE": str(path)}
    with pytest.raises(ConfigError) as checked:  # `python -m mmllm.config --check` too
        parse("server:\n  port: 8080\n", env)
    assert checked.value.field == "auth.api_keys_file"


def test_the_keys_file_comes_from_the_config_or_the_environment(model_dir: Path,
                                                               keys_file: Path) -> None:
    env = {"MODEL_DIR": str(model_dir), "POSTGRES_PASSWORD": "pw"}
    assert Config().auth.api_keys_file == "/run/secrets/mmllm/api-keys"
    text = f"auth:\n  api_keys_file: {keys_file}\n"
    assert parse(text, env).auth.api_keys_file == str(keys_file)
    other = write_keys(keys_file.with_name("other"), OTHER_KEY)
    assert parse(text, {**env, "MMLLM_API_KEYS_FILE": str(other)}).auth.api_keys_file == \
        str(other)


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "PYTHONPATH": str(SERVICE_DIR), **env}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True,
                          env=full_env, timeout=60)


def test_the_service_refuses_to_start_without_a_key_in_one_line(model_dir: Path,
                                                                tmp_path: Path) -> None:
    empty = tmp_path / "api-keys"
    empty.write_text("# no key yet\n")
    result = run(["-m", "mmllm"], {"MODEL_DIR": str(model_dir), "POSTGRES_PASSWORD": "pw",
                                   "MMLLM_CONFIG": str(PRODUCTION),
                                   "MMLLM_API_KEYS_FILE": str(empty)})
    assert result.returncode == 2
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, result.stdout
    assert json.loads(lines[0])["message"].startswith(
        "Configuration error: auth.api_keys_file: no key in ")


def test_new_key_cli_prints_a_fresh_usable_key() -> None:
    first, second = (run(["-m", "mmllm.auth", "--new-key"], {}) for _ in range(2))
    assert first.returncode == second.returncode == 0
    key = first.stdout.strip()
    assert key != second.stdout.strip() and len(key) >= 40
    assert auth.parse_keys(first.stdout, "stdout") == [key]
