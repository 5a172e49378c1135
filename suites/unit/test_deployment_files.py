"""docker-compose.yml describes the same deployment the suite starts, with the runbook's
health check and restart policy; every image it names is one `make setup` builds."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import yaml

from fixtures import images

COMPOSE = Path(__file__).resolve().parents[2] / "target" / "docker-compose.yml"


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def test_services_carry_the_runbook_names() -> None:
    assert {"app-prod", "postgres", "redis", "prometheus", "alertmanager", "model-store",
            "webhook-receiver", "toolbox"} <= set(compose()["services"])


def test_app_has_the_recommended_healthcheck_and_restart_policy() -> None:
    app = compose()["services"]["app-prod"]
    assert app["restart"] == "unless-stopped"
    check = app["healthcheck"]
    assert "http://localhost:8080/health" in " ".join(check["test"])
    assert (check["interval"], check["timeout"], check["retries"], check["start_period"]) == (
        "30s", "10s", 3, "40s")


def test_every_image_is_one_the_project_builds_named_through_its_variable() -> None:
    """`${APP_IMAGE:-mobile-multimodal:latest}`: production's tag by default, the drill's own
    build when the drill sets the variable."""
    built = {f"${{{images.IMAGE_VARIABLES[spec.name]}:-{spec.repository}:latest}}"
             for spec in images.SPECS if spec.name in images.IMAGE_VARIABLES}
    named = {service["image"] for service in compose()["services"].values()}
    assert named <= built, named - built


def test_the_api_keys_are_a_read_only_secret_mount_the_toolbox_sees_too() -> None:
    services = compose()["services"]
    assert "./secrets:/run/secrets/mmllm:ro" in services["app-prod"]["volumes"]
    assert not any("API_KEY" in name for name in services["app-prod"]["environment"])
    assert services["toolbox"]["environment"]["MMLLM_API_KEYS_FILE"] == \
        "${DEPLOY_DIR:?set DEPLOY_DIR}/secrets/api-keys"


def test_published_ports_bind_loopback_only() -> None:
    for name, service in compose()["services"].items():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), (name, port)


def test_metrics_is_published_no_wider_than_the_readme_says() -> None:
    """/metrics has no credential: the README and config/production.yml say it is for the
    monitoring network only. So the app's port is on the project's network (where Prometheus
    scrapes it) and published on the host's loopback alone, by no other service either."""
    target = COMPOSE.parent
    services = compose()["services"]
    app = services["app-prod"]
    assert app["ports"] == ["127.0.0.1:8080:8080"]
    assert "network_mode" not in app and "networks" not in app  # the project's network only
    for name, service in services.items():
        if name != "app-prod":
            assert not any(str(port).endswith(":8080") for port in service.get("ports", [])), name
    loader = type("Override", (yaml.SafeLoader,), {})  # Compose's `!override` tag: the value
    loader.add_constructor("!override", lambda load, node: load.construct_sequence(node))
    drill = yaml.load((target / "gameday.override.yml").read_text(), loader)["services"]
    assert drill["app-prod"]["ports"] == ["127.0.0.1:${APP_PORT:?}:8080"]
    scrape = yaml.safe_load((target / "monitoring" / "prometheus.yml").read_text())
    job = next(j for j in scrape["scrape_configs"] if j["job_name"] == "mobile-multimodal-app")
    assert (job["metrics_path"], job["static_configs"][0]["targets"]) == (
        "/metrics", ["app-prod:8080"])
    readme = " ".join((target.parent / "README.md").read_text().split())
    assert "`/metrics` has no credential of its own: it is for the monitoring network only" \
        in readme
    assert "/metrics, which is for the monitoring network only" in " ".join(
        (target / "config" / "production.yml").read_text().replace("#", " ").split())


def test_the_project_is_named_by_the_file_whatever_the_directory(tmp_path: Path) -> None:
    """Deployed from a directory not called `mmllm`, with nothing naming the project, Compose
    still calls it `mmllm`; and the toolbox is given no name of its own to override that, so
    its runbook lines address the same project as the host (issue 16)."""
    deploy = tmp_path / "staging-east"
    deploy.mkdir()
    shutil.copy2(COMPOSE, deploy / "docker-compose.yml")
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPOSE_")}
    env.update(POSTGRES_PASSWORD="files-check", DEPLOY_DIR=str(deploy))
    result = subprocess.run(["docker", "compose", "config", "--format", "json"], cwd=deploy,
                            env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    rendered = json.loads(result.stdout)
    assert rendered["name"] == "mmllm"
    assert rendered["networks"]["default"]["name"] == "mmllm_default"
    assert "COMPOSE_PROJECT_NAME" not in rendered["services"]["toolbox"]["environment"]
    assert "COMPOSE_PROJECT_NAME" not in compose()["services"]["toolbox"]["environment"]
