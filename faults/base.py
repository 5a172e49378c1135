"""What every fault injector offers the lifecycle: inject, revert, and a residue check.

A fault enters the way it does in the wild (a process dies, a release ships a bad file, a
database hangs) through the same tools an operator or a release uses: Compose on the
deployment's own files, the Docker engine, the operator toolbox. `revert` must be safe to call
at any time and more than once: the lifecycle calls it after every scenario, whether the
runbook's recovery already undid the fault or the test failed. It is the safety net, never
the recovery that is judged.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Protocol

import docker.errors

if TYPE_CHECKING:
    from fixtures.stack import Stack

# The image of clients that act on the deployment's network (an attacker, a misbehaving app):
# this checkout's Python runtime (stack.image_refs), never a :latest another checkout moved.
CLIENT_IMAGE = "python"
CLIENT_START_TIMEOUT = 15.0


class Fault(Protocol):
    #: one sentence for the incident report's root cause
    description: str

    def inject(self, stack: Stack) -> str:
        """Cause the fault; return what the injection itself observed (evidence)."""

    # Optional, `prepare(stack) -> str`: wait for what the fault needs before it can begin
    # (e.g. a traffic baseline). The lifecycle calls it before it starts the fault's clock, so
    # that the wait counts in no figure and widens no budget; inject calls it too, and then it
    # returns at once.

    def revert(self, stack: Stack) -> None:
        """Undo the fault if anything of it is left."""

    def residue(self, stack: Stack) -> list[str]:
        """What of the fault is still there (empty when nothing is)."""


class InjectionFailed(RuntimeError):
    """The fault could not be caused: a suite or machine problem, not a product defect."""


def compose(stack: Stack, *args: str) -> str:
    """Run `docker compose ARGS` on the deployment as an operator or a release would."""
    result = stack.run_compose(*args)
    if result.returncode:
        raise InjectionFailed(f"docker compose {' '.join(args)}: {result.stderr.strip()}")
    return result.stderr.strip()


def ensure_running(stack: Stack, service: str) -> None:
    """The safety net: the service's container running again, as the deployment declares it."""
    container = stack.container(service)
    if container.status == "paused":
        container.unpause()
    elif container.status != "running":
        stack.run_compose("up", "-d", service)


def not_running(stack: Stack, service: str) -> list[str]:
    """The residue of a fault that stopped a service: the service not running again."""
    status = stack.container(service).status
    return [] if status == "running" else [f"{service} is {status}"]


def psql(stack: Stack, sql: str) -> tuple[int, str]:
    """One statement in the database container, as the deployment's own user runs it."""
    result = stack.container("postgres").exec_run(
        ["psql", "-U", "mmllm", "-d", "mmllm", "-v", "ON_ERROR_STOP=1", "-Atc", sql])
    return result.exit_code, result.output.decode(errors="replace").strip()


def psql_value(stack: Stack, sql: str) -> str:
    code, out = psql(stack, sql)
    if code:
        raise InjectionFailed(f"psql: {out}")
    return out


def ship_migration(stack: Stack, name: str, up: str, down: str) -> str:
    """A migration as a release ships it ($DEPLOY_DIR/migrations/NAME.up.sql and .down.sql,
    which the toolbox sees at the same path), applied; returns what applying it said."""
    migrations = stack.deploy_dir / "migrations"
    migrations.mkdir(exist_ok=True)
    (migrations / f"{name}.up.sql").write_text(up)
    (migrations / f"{name}.down.sql").write_text(down)
    code, out = psql(stack, up)
    if code:
        raise InjectionFailed(f"applying {name}.up.sql: {out}")
    return f"applied migrations/{name}.up.sql: {up.strip()} ({out})"


def remove_migration(stack: Stack, name: str) -> None:
    for path in (stack.deploy_dir / "migrations").glob(f"{name}.*.sql"):
        path.unlink()


def start_client(stack: Stack, name: str, script: str, *args: str) -> tuple[str, str]:
    """A client container on the deployment's network running a stdlib Python `script`, which
    prints a line starting "first answer" once it has one. It carries the run's labels and
    removes itself when it ends. Returns its address (as the app's log names it) and that line.
    """
    network = f"{stack.project}_default"
    client = stack.docker.containers.run(
        stack.image_refs[CLIENT_IMAGE], ["python3", "-c", script, *args], name=name, detach=True,
        labels=stack.labels, network=network, auto_remove=True)
    deadline = time.monotonic() + CLIENT_START_TIMEOUT
    try:
        while b"first answer" not in client.logs():
            client.reload()
            if client.status == "exited" or time.monotonic() > deadline:
                raise InjectionFailed(f"client {name} did not get a first answer: "
                                      f"{client.logs().decode(errors='replace')[-500:]}")
            time.sleep(0.1)
        client.reload()
        address = client.attrs["NetworkSettings"]["Networks"][network]["IPAddress"]
        first = client.logs().decode(errors="replace").strip().splitlines()[0]
    except docker.errors.NotFound:  # removed itself: it ended before it answered
        raise InjectionFailed(f"client {name} ended before its first answer") from None
    return address, first


def client_running(stack: Stack, name: str) -> bool:
    try:
        stack.docker.containers.get(name)
    except docker.errors.NotFound:
        return False
    return True


def remove_client(stack: Stack, name: str) -> None:
    try:
        stack.docker.containers.get(name).remove(force=True)
    except docker.errors.NotFound:
        pass
