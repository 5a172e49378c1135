"""The drill runs the deployment as deployed: the game-day override changes only what is on
fidelity.ALLOWED, as Compose itself renders both. A planted change outside that list fails."""

from __future__ import annotations

from pathlib import Path

import pytest

from fixtures import fidelity

pytestmark = pytest.mark.unit


def test_the_override_changes_only_what_a_drill_must() -> None:
    assert fidelity.unexpected() == []


def test_every_allowed_difference_is_used() -> None:
    """An entry of the list that the override no longer needs is a hole: remove it."""
    found = fidelity.differences(fidelity.render(fidelity.DEPLOYMENT),
                                 fidelity.render(fidelity.DEPLOYMENT, fidelity.OVERRIDE))
    used = {(d.where.rpartition(":")[0] or "*", d.setting) for d in found}
    used |= {(d.where, d.setting) for d in found}
    assert set(fidelity.ALLOWED) <= used, set(fidelity.ALLOWED) - used


@pytest.mark.parametrize(("planted", "setting"), [
    ("services:\n  app-prod:\n    restart: \"no\"\n", "restart"),
    ("services:\n  app-prod:\n    mem_limit: 2g\n", "mem_limit"),
    ("services:\n  postgres:\n    healthcheck:\n      disable: true\n", "healthcheck"),
    ("services:\n  redis:\n    command: [\"redis-server\", \"--appendonly\", \"no\"]\n",
     "command"),
    ("services:\n  app-prod:\n    environment:\n      POSTGRES_DB: elsewhere\n",
     "environment.POSTGRES_DB"),
    ("services:\n  toxiproxy:\n    mem_limit: 64m\n", "mem_limit"),
    # Only the data volume may sit on the drill's own disk; the database's stays as deployed.
    ("volumes:\n  pgdata:\n    driver_opts: {type: tmpfs, device: tmpfs}\n", "driver_opts"),
])
def test_a_drill_that_differs_elsewhere_is_caught(tmp_path: Path, planted: str,
                                                  setting: str) -> None:
    extra = tmp_path / "planted.yml"
    extra.write_text(planted)
    assert [d.setting for d in fidelity.unexpected(extra)] == [setting]


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
