"""Configuration: YAML file + environment overrides, validated into frozen dataclasses.

    python -m mmllm.config --check config/production.yml
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from mmllm.auth import KeyFileError, read_keys

DEFAULT_PATH = "/app/config/production.yml"


class ConfigError(Exception):
    """A configuration problem, named by its dotted field ('postgres.port') or 'config'."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason

    def message(self) -> str:
        return f"Configuration error: {self.field}: {self.reason}"


@dataclass(frozen=True)
class ServerConfig:
    host: str = "0.0.0.0"
    port: int = 8080
    max_image_bytes: int = 8 * 1024 * 1024
    max_image_pixels: int = 4000 * 3000
    max_concurrent_inferences: int = 4
    max_queued_inferences: int = 8
    upload_cache_mb: int = 32
    body_read_timeout_seconds: float = 10.0
    keep_alive_timeout_seconds: float = 5.0
    max_connections: int = 256


@dataclass(frozen=True)
class ModelConfig:
    dir: str = "/app/models"
    name: str = "int2_quantized"
    watch_interval_seconds: float = 1.0


@dataclass(frozen=True)
class PostgresConfig:
    host: str = "postgres"
    port: int = 5432
    user: str = "mmllm"
    password: str = field(default="", repr=False)  # from env POSTGRES_PASSWORD; never printed
    database: str = "mmllm"
    connect_timeout_seconds: float = 2.0


@dataclass(frozen=True)
class RedisConfig:
    host: str = "redis"
    port: int = 6379
    cache_ttl_seconds: int = 300


@dataclass(frozen=True)
class ReadinessConfig:
    max_memory_fraction: float = 0.9


@dataclass(frozen=True)
class AuthConfig:
    # One API key per line (# comments and blank lines ignored), one or two active at once.
    api_keys_file: str = "/run/secrets/mmllm/api-keys"


@dataclass(frozen=True)
class Config:
    server: ServerConfig = field(default_factory=ServerConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    postgres: PostgresConfig = field(default_factory=PostgresConfig)
    redis: RedisConfig = field(default_factory=RedisConfig)
    readiness: ReadinessConfig = field(default_factory=ReadinessConfig)
    auth: AuthConfig = field(default_factory=AuthConfig)


ENV_OVERRIDES = {
    "POSTGRES_HOST": ("postgres", "host"),
    "POSTGRES_PORT": ("postgres", "port"),
    "POSTGRES_USER": ("postgres", "user"),
    "POSTGRES_PASSWORD": ("postgres", "password"),
    "POSTGRES_DB": ("postgres", "database"),
    "REDIS_HOST": ("redis", "host"),
    "REDIS_PORT": ("redis", "port"),
    "MODEL_DIR": ("model", "dir"),
    "MODEL_NAME": ("model", "name"),
    "MMLLM_API_KEYS_FILE": ("auth", "api_keys_file"),
}

# (section, key) -> (minimum, maximum, minimum exclusive?) for numbers
RANGES = {
    ("server", "port"): (1, 65535, False),
    ("server", "max_image_bytes"): (1, None, False),
    ("server", "max_image_pixels"): (1, None, False),
    ("server", "max_concurrent_inferences"): (1, 256, False),
    ("server", "max_queued_inferences"): (0, 4096, False),
    ("server", "upload_cache_mb"): (0, 1 << 20, False),
    ("server", "body_read_timeout_seconds"): (0, 600, True),
    ("server", "keep_alive_timeout_seconds"): (0, 600, True),
    ("server", "max_connections"): (1, 65535, False),
    ("model", "watch_interval_seconds"): (0, 3600, True),
    ("postgres", "port"): (1, 65535, False),
    ("postgres", "connect_timeout_seconds"): (0, 60, True),
    ("redis", "port"): (1, 65535, False),
    ("redis", "cache_ttl_seconds"): (1, None, False),
    ("readiness", "max_memory_fraction"): (0, 1, True),
}


def _type_name(value: object) -> str:
    return "null" if value is None else type(value).__name__


def _coerce(dotted: str, kind: type, value: object, from_env: str | None) -> object:
    if from_env is not None and kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            raise ConfigError(
                dotted, f"expected {'an integer' if kind is int else 'a number'}, got {value!r} "
                f"(from environment variable {from_env})") from None
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, kind) or isinstance(value, bool):
        expected = {int: "an integer", float: "a number", str: "a string"}[kind]
        raise ConfigError(dotted, f"expected {expected}, got {_type_name(value)} {value!r}")
    return value


def _check_value(section: str, key: str, value: object) -> None:
    dotted = f"{section}.{key}"
    if isinstance(value, str) and not value:
        raise ConfigError(dotted, "must not be empty")
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(dotted, f"{value!r} is not a finite number")
    if (section, key) in RANGES:
        low, high, exclusive = RANGES[(section, key)]
        if value < low or (exclusive and value == low) or (high is not None and value > high):
            bound = f"{'>' if exclusive else '>='} {low}" + (f" and <= {high}" if high else "")
            raise ConfigError(dotted, f"{value!r} is out of range (must be {bound})")
    if dotted == "model.name" and ("/" in value or value.startswith(".")):
        raise ConfigError(dotted, f"{value!r} is not a plain file name")


def _section(name: str, cls: type, raw: object, env: dict[str, str]) -> object:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(name, f"expected a mapping, got {_type_name(raw)}")
    known = {f.name: f for f in dataclasses.fields(cls)}
    for key in raw:
        if key not in known:
            raise ConfigError(f"{name}.{key}", "unknown key")
    values = {}
    for key, fld in known.items():
        env_name = next((e for e, target in ENV_OVERRIDES.items() if target == (name, key)), None)
        from_env = env_name if env_name in env else None
        if from_env is None and key not in raw:
            continue
        value = env[from_env] if from_env else raw[key]
        value = _coerce(f"{name}.{key}", _kind(fld), value, from_env)
        _check_value(name, key, value)
        values[key] = value
    return cls(**values)


def _kind(fld: dataclasses.Field) -> type:
    # Annotations are strings because of `from __future__ import annotations`.
    return {"int": int, "float": float, "str": str}[str(fld.type)]


def parse(text: str, env: dict[str, str] | None = None, source: str = "<string>") -> Config:
    """Validate YAML text plus environment overrides; raise ConfigError on any problem."""
    env = dict(os.environ) if env is None else env
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" at line {where.line + 1}, column {where.column + 1}" if where else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError("config", f"invalid YAML in {source}{at}: {problem}") from None
    if raw is None:
        raise ConfigError("config", f"{source} is empty")
    if not isinstance(raw, dict):
        raise ConfigError("config", f"expected a mapping at the top of {source}, "
                                    f"got {_type_name(raw)}")
    sections = {f.name: f.default_factory for f in dataclasses.fields(Config)}
    for key in raw:
        if key not in sections:
            raise ConfigError(str(key), "unknown key")
    config = Config(**{name: _section(name, factory, raw.get(name), env)
                       for name, factory in sections.items()})
    model_dir = Path(config.model.dir)
    if not model_dir.is_dir():
        raise ConfigError("model.dir", f"directory {model_dir} does not exist")
    if not (model_dir / f"{config.model.name}.pth").is_file():
        raise ConfigError("model.name", f"model file {model_dir / config.model.name}.pth not found")
    if not config.postgres.password:
        raise ConfigError("postgres.password", "not set: the POSTGRES_PASSWORD environment "
                                               "variable must hold the database password")
    try:
        read_keys(config.auth.api_keys_file)
    except KeyFileError as exc:
        raise ConfigError("auth.api_keys_file", str(exc)) from None
    return config


def load_config(path: str | None = None, env: dict[str, str] | None = None) -> Config:
    """Load the file named by `path`, else $MMLLM_CONFIG, else /app/config/production.yml."""
    env = dict(os.environ) if env is None else env
    path = path or env.get("MMLLM_CONFIG") or DEFAULT_PATH
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        raise ConfigError("config", f"file {path} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError("config", f"cannot read {path}: {exc}") from None
    return parse(text, env, source=path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mmllm.config")
    parser.add_argument("--check", metavar="PATH", required=True,
                        help="validate PATH (with environment overrides applied)")
    args = parser.parse_args(argv)
    try:
        load_config(args.check)
    except ConfigError as exc:
        print(exc.message(), file=sys.stderr)
        return 2
    print("Configuration OK")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
