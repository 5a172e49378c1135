"""Every bad configuration names its field; the service and --check exit with status 2."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from mmllm.config import ENV_OVERRIDES, Config, ConfigError, load_config, parse

from .conftest import SERVICE_DIR, write_keys

PRODUCTION = SERVICE_DIR.parent / "config" / "production.yml"


def production_env(model_dir: Path) -> dict[str, str]:
    keys = write_keys(model_dir.parent / "secrets" / "api-keys")
    return {"MODEL_DIR": str(model_dir), "POSTGRES_PASSWORD": "pw-secret",
            "MMLLM_API_KEYS_FILE": str(keys)}


def test_production_config_is_valid(model_dir: Path) -> None:
    config = load_config(str(PRODUCTION), production_env(model_dir))
    assert config.server.port == 8080
    assert (config.postgres.host, config.postgres.port, config.postgres.user) == (
        "postgres", 5432, "mmllm")
    assert (config.redis.host, config.redis.port) == ("redis", 6379)
    assert config.model.name == "int2_quantized"
    assert config.postgres.password == "pw-secret"  # from the environment, not the file
    assert "pw-secret" not in repr(config)


@pytest.mark.parametrize(("text", "env", "field"), [
    ("server: [port: 1\n", {}, "config"),                      # invalid YAML
    ("server:\n  prot: 8080\n", {}, "server.prot"),            # unknown key
    ("colour: red\n", {}, "colour"),                           # unknown section
    ("server:\n  port: '8080'\n", {}, "server.port"),          # wrong type
    ("server:\n  port: 70000\n", {}, "server.port"),           # out of range
    ("redis:\n  port: 0\n", {}, "redis.port"),
    ("readiness:\n  max_memory_fraction: 1.5\n", {}, "readiness.max_memory_fraction"),
    ("server: 5\n", {}, "server"),                             # section is not a mapping
    ("model:\n  name: nothere\n", {}, "model.name"),           # model file missing
    ("model:\n  dir: /does/not/exist\n", {}, "model.dir"),
    ("server:\n  port: 8080\n", {"POSTGRES_PORT": "five"}, "postgres.port"),  # bad env value
    ("", {}, "config"),                                        # empty file
])
def test_bad_configuration_names_the_field(model_dir: Path, text: str, env: dict, field: str
                                           ) -> None:
    if "dir:" not in text:
        env = {"MODEL_DIR": str(model_dir), **env}
    with pytest.raises(ConfigError) as info:
        parse(text, env)
    assert info.value.field == field
    assert info.value.message().startswith(f"Configuration error: {field}: ")


def test_environment_overrides_file(model_dir: Path) -> None:
    config = parse("postgres:\n  port: 5432\n", {
        **production_env(model_dir), "POSTGRES_PORT": "6543", "REDIS_HOST": "cache"})
    assert config.postgres.port == 6543 and config.redis.host == "cache"


NUMERIC_FIELDS = [
    (section.name, field.name)
    for section in dataclasses.fields(Config)
    for field in dataclasses.fields(section.default_factory())
    if field.type in ("int", "float")
]
NOT_FINITE = {".nan": "nan", ".inf": "inf", "-.inf": "-inf"}


def test_every_numeric_field_is_covered() -> None:
    assert ("readiness", "max_memory_fraction") in NUMERIC_FIELDS
    assert ("server", "max_concurrent_inferences") in NUMERIC_FIELDS
    assert len(NUMERIC_FIELDS) >= 14


@pytest.mark.parametrize("value", list(NOT_FINITE))
@pytest.mark.parametrize(("section", "key"), NUMERIC_FIELDS)
def test_nan_and_infinities_are_refused_for_every_numeric_field(
        model_dir: Path, section: str, key: str, value: str) -> None:
    """NaN passes every range check (each comparison is false): e.g. a NaN memory fraction
    would switch off the memory check of /ready."""
    with pytest.raises(ConfigError) as info:
        parse(f"{section}:\n  {key}: {value}\n", production_env(model_dir))
    assert info.value.field == f"{section}.{key}"
    message = info.value.message()
    assert message.startswith(f"Configuration error: {section}.{key}: ")
    assert NOT_FINITE[value] in message and "\n" not in message


ENV_NUMERIC = [name for name, target in ENV_OVERRIDES.items() if target in NUMERIC_FIELDS]


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf", "Infinity", "1e999"])
@pytest.mark.parametrize("variable", ENV_NUMERIC)
def test_nan_and_infinities_are_refused_from_the_environment(
        model_dir: Path, variable: str, value: str) -> None:
    section, key = ENV_OVERRIDES[variable]
    with pytest.raises(ConfigError) as info:
        parse("server:\n  port: 8080\n", {**production_env(model_dir), variable: value})
    assert info.value.message().startswith(f"Configuration error: {section}.{key}: ")


def test_a_nan_memory_fraction_is_refused_although_no_range_check_catches_it(
        model_dir: Path) -> None:
    with pytest.raises(ConfigError, match="not a finite number"):
        parse("readiness:\n  max_memory_fraction: .nan\n", production_env(model_dir))


@pytest.mark.parametrize("env", [{}, {"POSTGRES_PASSWORD": ""}], ids=["unset", "empty"])
def test_an_empty_database_password_is_a_configuration_error(model_dir: Path, env: dict
                                                              ) -> None:
    with pytest.raises(ConfigError) as info:
        parse("server:\n  port: 8080\n", {"MODEL_DIR": str(model_dir), **env})
    assert info.value.field == "postgres.password"
    assert info.value.message().startswith("Configuration error: postgres.password: ")


def test_an_empty_password_in_the_file_is_refused(model_dir: Path) -> None:
    with pytest.raises(ConfigError) as info:
        parse("postgres:\n  password: ''\n", {"MODEL_DIR": str(model_dir)})
    assert info.value.field == "postgres.password"


@pytest.mark.parametrize(("text", "field"), [
    ("server:\n  max_concurrent_inferences: 0\n", "server.max_concurrent_inferences"),
    ("server:\n  max_queued_inferences: -1\n", "server.max_queued_inferences"),
    ("server:\n  body_read_timeout_seconds: 0\n", "server.body_read_timeout_seconds"),
    ("server:\n  keep_alive_timeout_seconds: -5\n", "server.keep_alive_timeout_seconds"),
    ("server:\n  max_connections: 0\n", "server.max_connections"),
    ("server:\n  max_concurrent_inferences: 2.5\n", "server.max_concurrent_inferences"),
])
def test_backpressure_limits_are_validated(model_dir: Path, text: str, field: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse(text, production_env(model_dir))
    assert info.value.field == field


def test_production_backpressure_limits(model_dir: Path) -> None:
    server = load_config(str(PRODUCTION), production_env(model_dir)).server
    assert (server.max_concurrent_inferences, server.max_queued_inferences) == (4, 8)
    assert server.max_image_pixels == 4000 * 3000
    assert server.body_read_timeout_seconds == 10 and server.keep_alive_timeout_seconds == 5


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "PYTHONPATH": str(SERVICE_DIR), **env}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True,
                          env=full_env, timeout=60)


def test_check_command_exit_codes(model_dir: Path, tmp_path: Path) -> None:
    ok = run(["-m", "mmllm.config", "--check", str(PRODUCTION)], production_env(model_dir))
    assert ok.returncode == 0 and ok.stdout.strip() == "Configuration OK"
    bad_file = tmp_path / "bad.yml"
    bad_file.write_text("server:\n  port: 0\n")
    bad = run(["-m", "mmllm.config", "--check", str(bad_file)], production_env(model_dir))
    assert bad.returncode == 2
    assert bad.stderr.startswith("Configuration error: server.port: ")


def test_service_logs_one_line_and_exits_2(model_dir: Path, tmp_path: Path) -> None:
    bad_file = tmp_path / "bad.yml"
    bad_file.write_text("redis:\n  port: 99999\n")
    result = run(["-m", "mmllm"], {**production_env(model_dir), "MMLLM_CONFIG": str(bad_file)})
    assert result.returncode == 2
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    entry = json.loads(lines[0])
    assert entry["level"] == "ERROR"
    assert entry["message"].startswith("Configuration error: redis.port: ")
    assert "pw-secret" not in result.stdout + result.stderr


def test_the_drills_clients_fit_in_what_the_service_admits_at_once(model_dir: Path) -> None:
    """When a dependency stalls, every client's request waits at once. The load's users, the
    prober and every inference check of the synthetic monitor must then still fit in what the
    service admits (running + queued, production's config): else a stall the service rides
    out would refuse inferences because of the drill's own clients."""
    from fixtures.monitoring import load_health_checks
    from gameday.traffic import USERS

    server = load_config(str(PRODUCTION), production_env(model_dir)).server
    checks = load_health_checks()
    monitor = (len(checks["golden"]["inferences"])
               + sum(p["path"] == "/model/inference" for p in checks["probes"]))
    prober = 1
    assert USERS + prober + monitor <= (server.max_concurrent_inferences
                                        + server.max_queued_inferences)
