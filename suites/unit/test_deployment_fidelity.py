"""The drill runs the deployment as deployed: the game-day override changes only what is on
fidelity.ALLOWED, as Compose itself renders both. A planted change outside that list fails."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from fixtures import fidelity

pytestmark = pytest.mark.unit


def test_the_override_changes_only_what_a_drill_must() -> None:
    assert fidelity.unexpected() == []


def test_the_fault_proxy_file_changes_only_the_app_links() -> None:
    """What a network fault deploys on top for its duration: the app's links to the stores
    through the relay, nothing else."""
    assert fidelity.unexpected(fidelity.FAULTPROXY) == []


def test_the_drill_runs_prometheus_as_its_image_does_with_time_compressed() -> None:
    """The allowed command is the image's own, plus the one timing flag, compressed."""
    dockerfile = (fidelity.TARGET / "images" / "prometheus" / "Dockerfile").read_text()
    image_command = json.loads(re.search(r"^CMD (.+)$", dockerfile, re.M).group(1))
    drilled = fidelity.render(fidelity.DEPLOYMENT, fidelity.OVERRIDE)["services"]["prometheus"]
    assert drilled["command"] == [*image_command, "--rules.alert.resend-delay=4000ms"]
    assert fidelity.render(fidelity.DEPLOYMENT)["services"]["prometheus"].get("command") is None


def test_the_plain_drill_connects_the_app_directly() -> None:
    """Without the fault-proxy file the app reaches PostgreSQL and Redis as deployed: its
    allowances hold only with that file."""
    app = fidelity.render(fidelity.DEPLOYMENT, fidelity.OVERRIDE)["services"]["app-prod"]
    assert (app["environment"]["POSTGRES_HOST"], app["environment"]["REDIS_HOST"]) == (
        "postgres", "redis")
    assert "toxiproxy" not in app.get("depends_on", {})
    assert fidelity.allowances(Path("planted.yml")) == fidelity.ALLOWED
    assert not set(fidelity.FAULTPROXY_ALLOWED) & set(fidelity.ALLOWED)


def _used(*extra: Path) -> set[tuple[str, str]]:
    found = fidelity.differences(fidelity.render(fidelity.DEPLOYMENT),
                                 fidelity.render(fidelity.DEPLOYMENT, fidelity.OVERRIDE, *extra))
    used = {(d.where.rpartition(":")[0] or "*", d.setting) for d in found}
    return used | {(d.where, d.setting) for d in found}


def test_every_allowed_difference_is_used() -> None:
    """An entry of the list that the override no longer needs is a hole: remove it."""
    used = _used()
    assert set(fidelity.ALLOWED) <= used, set(fidelity.ALLOWED) - used
    with_proxy = _used(fidelity.FAULTPROXY) - used
    assert set(fidelity.FAULTPROXY_ALLOWED) <= with_proxy, (
        set(fidelity.FAULTPROXY_ALLOWED) - with_proxy)


@pytest.mark.parametrize(("planted", "setting"), [
    ("services:\n  app-prod:\n    restart: \"no\"\n", "restart"),
    ("services:\n  app-prod:\n    mem_limit: 2g\n", "mem_limit"),
    ("services:\n  postgres:\n    healthcheck:\n      disable: true\n", "healthcheck"),
    ("services:\n  redis:\n    command: [\"redis-server\", \"--appendonly\", \"no\"]\n",
     "command"),
    ("services:\n  app-prod:\n    environment:\n      POSTGRES_DB: elsewhere\n",
     "environment.POSTGRES_DB"),
    ("services:\n  toxiproxy:\n    mem_limit: 64m\n", "mem_limit"),
    # The app's links go through the relay only with the fault-proxy file, never otherwise.
    ("services:\n  app-prod:\n    environment:\n      POSTGRES_HOST: toxiproxy\n",
     "environment.POSTGRES_HOST"),
    # Only the data volume may sit on the drill's own disk; the database's stays as deployed.
    ("volumes:\n  pgdata:\n    driver_opts: {type: tmpfs, device: tmpfs}\n", "driver_opts"),
    # The names Compose derives from the project's follow it; a name given outright (here
    # production's database, from a drill) is a difference of its own.
    ("volumes:\n  pgdata:\n    name: mmllm_pgdata\n", "name"),
])
def test_a_drill_that_differs_elsewhere_is_caught(tmp_path: Path, planted: str,
                                                  setting: str) -> None:
    extra = tmp_path / "planted.yml"
    extra.write_text(planted)
    assert [d.setting for d in fidelity.unexpected(extra)] == [setting]


def test_a_change_beside_the_fault_proxy_file_is_caught(tmp_path: Path) -> None:
    extra = tmp_path / "planted.yml"
    extra.write_text("services:\n  app-prod:\n    environment:\n      POSTGRES_DB: elsewhere\n")
    assert [d.setting for d in fidelity.unexpected(fidelity.FAULTPROXY, extra)] == [
        "environment.POSTGRES_DB"]


def test_only_the_project_name_differs_at_the_top_level() -> None:
    """The deployment names its project, the drill its run's (`Stack.project`); the volumes'
    and the network's names follow each, and are no difference of their own."""
    deployed = fidelity.render(fidelity.DEPLOYMENT)
    drilled = fidelity.render(fidelity.DEPLOYMENT, fidelity.OVERRIDE)
    assert (deployed["name"], drilled["name"]) == ("mmllm", "gameday-fidelity")
    assert drilled["volumes"]["pgdata"]["name"] == "gameday-fidelity_pgdata"
    found = fidelity.differences(deployed, drilled)
    assert [(d.setting, d.drilled) for d in found if d.where == fidelity.PROJECT] == [
        ("name", "gameday-fidelity")]
    assert not [d for d in found if d.setting == "name" and d.where != fidelity.PROJECT]
    # "*" is any service, never the project: a service's allowance does not cover it.
    assert not fidelity.Difference(fidelity.PROJECT, "ports", None, []).allowed()


def test_another_top_level_difference_is_caught(tmp_path: Path) -> None:
    """The project's name is allowed as that setting alone: a top-level secret (which Compose
    renders only once a service uses it) is a difference of the project and of the service."""
    extra = tmp_path / "planted.yml"
    extra.write_text("secrets:\n  planted:\n    environment: POSTGRES_PASSWORD\n"
                     "services:\n  app-prod:\n    secrets: [planted]\n")
    assert [(d.where, d.setting) for d in fidelity.unexpected(extra)] == [
        (fidelity.PROJECT, "secrets"), ("app-prod", "secrets")]


def test_the_deployment_keeps_what_production_relies_on() -> None:
    services = fidelity.render(fidelity.DEPLOYMENT)["services"]
    app = services["app-prod"]
    assert app["restart"] == "unless-stopped" and int(app["mem_limit"]) == 1024**3
    assert app["healthcheck"]["test"][0] == "CMD"
    assert "--appendfsync" in services["redis"]["command"]
    assert {v["target"] for v in app["volumes"]} >= {"/app/models", "/app/config", "/app/data"}
    # DiskSpaceLow sees the data volume's disk only through the exporter, and skips a mount
    # the exporter reports read-only.
    watched = [v for v in services["node-exporter"]["volumes"] if v["source"] == "data"]
    assert watched and not watched[0].get("read_only")


def test_the_drill_names_every_image_by_this_checkouts_tag() -> None:
    """Production starts :latest (the file's defaults); the drill its own build's content-hash
    tags, which another checkout's set-up cannot move."""
    deployed = fidelity.render(fidelity.DEPLOYMENT)["services"]
    drilled = fidelity.render(fidelity.DEPLOYMENT, fidelity.OVERRIDE)["services"]
    assert all(spec["image"].endswith(":latest") for spec in deployed.values())
    assert {name: spec["image"] for name, spec in drilled.items()
            if not spec["image"].endswith(":0123456789ab")} == {}
