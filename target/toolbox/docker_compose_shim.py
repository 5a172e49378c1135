#!/opt/venv/bin/python
"""`docker-compose` for the operator toolbox: the runbook's compose verbs, acting on the live stack.

The game-day stack is started by testcontainers, not by Compose, but it carries Compose's own
labels (com.docker.compose.project/service). This command finds the containers by those labels
and applies the verbs the runbooks use; resource settings for `up` come from docker-compose.yml,
as Compose would apply them.
"""

from __future__ import annotations

import argparse
import os
import sys

import docker
import yaml

PROJECT = os.environ.get("COMPOSE_PROJECT_NAME", "")
COMPOSE_FILE = os.environ.get("COMPOSE_FILE", "/app/docker-compose.yml")
UNITS = {"b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def fail(message: str) -> None:
    print(f"docker-compose: {message}", file=sys.stderr)
    sys.exit(1)


def containers(client: docker.DockerClient, services: list[str]) -> list:
    found = client.containers.list(
        all=True, filters={"label": f"com.docker.compose.project={PROJECT}"}
    )
    by_service = {c.labels.get("com.docker.compose.service"): c for c in found}
    if not services:
        return sorted(found, key=lambda c: c.labels.get("com.docker.compose.service", ""))
    missing = [s for s in services if s not in by_service]
    if missing:
        fail(f"no such service: {', '.join(missing)} (known: {', '.join(sorted(by_service))})")
    return [by_service[s] for s in services]


def parse_bytes(value: str | int) -> int:
    text = str(value).strip().lower()
    unit = text[-1] if text[-1] in UNITS else "b"
    return int(float(text.rstrip("bkmg")) * UNITS[unit])


def declared_memory(service: str) -> dict[str, int]:
    with open(COMPOSE_FILE) as handle:
        spec = (yaml.safe_load(handle) or {}).get("services", {}).get(service, {})
    limits = {}
    if "mem_limit" in spec:
        limits["mem_limit"] = parse_bytes(spec["mem_limit"])
        limits["memswap_limit"] = limits["mem_limit"]
    if "mem_reservation" in spec:
        limits["mem_reservation"] = parse_bytes(spec["mem_reservation"])
    return limits


def name(container) -> str:
    return container.labels.get("com.docker.compose.service", container.name)


def cmd_ps(client, args) -> int:
    for c in containers(client, args.services):
        if args.q:
            print(c.id)
        else:
            tag = c.image.tags[0] if c.image.tags else ""
            print(f"{name(c):18} {c.name:40} {c.status:10} {tag}")
    return 0


def cmd_logs(client, args) -> int:
    tail = "all" if args.tail in (None, "all") else int(args.tail)
    for c in containers(client, args.services):
        for line in c.logs(tail=tail).decode(errors="replace").splitlines():
            print(f"{name(c)} | {line}")
    return 0


def cmd_restart(client, args) -> int:
    for c in containers(client, args.services):
        c.restart(timeout=args.t)
        print(f"Restarting {name(c)} ... done")
    return 0


def cmd_stop(client, args) -> int:
    for c in containers(client, args.services):
        c.stop(timeout=args.t)
        print(f"Stopping {name(c)} ... done")
    return 0


def cmd_start(client, args) -> int:
    for c in containers(client, args.services):
        c.start()
        print(f"Starting {name(c)} ... done")
    return 0


def cmd_up(client, args) -> int:
    if not args.d:
        fail("only detached mode is supported here: use `up -d`")
    if args.scale:
        fail("--scale is not supported on this stack: "
             "raise mem_limit in docker-compose.yml instead")
    for c in containers(client, args.services):
        wanted = declared_memory(name(c))
        live = c.attrs["HostConfig"]
        keys = {"mem_limit": "Memory", "mem_reservation": "MemoryReservation"}
        if any(live.get(keys[k]) != v for k, v in wanted.items() if k in keys):
            c.update(**wanted)
            print(f"Updating {name(c)} limits from {COMPOSE_FILE}: {wanted}")
        c.reload()
        if c.status != "running":
            try:
                c.start()
            except docker.errors.APIError as error:
                fail(f"cannot start {name(c)}: {error.explanation or error}")
            print(f"Starting {name(c)} ... done")
        else:
            print(f"{name(c)} is up-to-date")
    return 0


def cmd_exec(client, args) -> int:
    (c,) = containers(client, [args.service])
    result = c.exec_run(args.command, demux=False)
    sys.stdout.write(result.output.decode(errors="replace"))
    return result.exit_code


def main(argv: list[str] | None = None) -> int:
    if not PROJECT:
        fail("COMPOSE_PROJECT_NAME is not set")
    parser = argparse.ArgumentParser(prog="docker-compose")
    verbs = parser.add_subparsers(dest="verb", required=True)
    p = verbs.add_parser("ps")
    p.add_argument("-q", action="store_true")
    p.add_argument("services", nargs="*")
    p = verbs.add_parser("logs")
    p.add_argument("--tail")
    p.add_argument("--no-color", action="store_true")
    p.add_argument("-f", action="store_true", help="ignored: the toolbox never follows")
    p.add_argument("services", nargs="*")
    for verb in ("restart", "stop"):
        p = verbs.add_parser(verb)
        p.add_argument("-t", type=int, default=10)
        p.add_argument("services", nargs="*")
    p = verbs.add_parser("start")
    p.add_argument("services", nargs="*")
    p = verbs.add_parser("up")
    p.add_argument("-d", action="store_true")
    p.add_argument("--no-deps", action="store_true")
    p.add_argument("--scale")
    p.add_argument("services", nargs="*")
    p = verbs.add_parser("exec")
    p.add_argument("-T", action="store_true")
    p.add_argument("service")
    p.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    client = docker.from_env()
    handler = globals()[f"cmd_{args.verb}"]
    return handler(client, args)


if __name__ == "__main__":
    sys.exit(main())
