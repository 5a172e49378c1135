"""A healthy stack passes the runbook's validation steps and raises no alert."""

from __future__ import annotations

import base64
import hashlib
import io

import httpx
import pytest
from PIL import Image

from fixtures import monitoring
from fixtures.clients import (
    AlertmanagerClient,
    AppClient,
    PrometheusClient,
    WebhookClient,
    wait_until,
)
from gameday import checks, runbook

pytestmark = pytest.mark.stack


def test_runbook_validation_checks_pass(stack) -> None:
    seen = checks.run_all(stack.endpoints)
    assert set(seen) == {c.name for c in checks.CHECKS}


def test_no_alert_and_no_notification_on_a_healthy_stack(stack) -> None:
    prometheus = PrometheusClient(stack.endpoints.prometheus)
    rules = prometheus.rules()
    assert {r["name"] for r in rules} >= {"ModelServiceDown", "ModelLoadFailure",
                                          "DatabaseConnectionFailure"}
    assert [r["name"] for r in rules if r["state"] != "inactive"] == []
    assert AlertmanagerClient(stack.endpoints.alertmanager).alerts() == []
    assert WebhookClient(stack.endpoints.webhook).notifications() == []


DIAGNOSTICS = [("service-down.md", "Verify the alert")] + [
    (name, section)
    for name in ("service-down.md", "high-error-rate.md", "high-memory.md", "database-issues.md",
                 "model-load-failure.md")
    for section in ("Investigation", "Validation")
] + [("security-incident.md", "Immediate actions"), ("security-incident.md", "Investigation")]


@pytest.mark.parametrize(("name", "section"), DIAGNOSTICS)
def test_runbook_diagnostics_run_in_the_toolbox(stack, name, section) -> None:
    """Every runnable line of these sections works against the live, healthy stack."""
    text = runbook.load(name)
    failures = []
    runnable = [command for command in runbook.commands(text, section) if command.runnable]
    assert runnable, f"{name} '{section}' has no command to run"
    for command in runnable:
        result = stack.toolbox(command.text, timeout=90)
        if result.exit_code:
            failures.append(f"line {command.line}: {command.text}\n{result.output[-400:]}")
    assert failures == []


def test_a_runbook_line_in_the_toolbox_reaches_the_live_project(stack) -> None:
    """The deployment's directory is called `deploy` and nothing names the project but the
    files (no COMPOSE_PROJECT_NAME in .env or in the toolbox): an operator's `docker-compose`
    line still addresses the live project, not an empty one named after a directory (issue 16).
    Only variable names are compared: .env holds the database password."""
    assert stack.deploy_dir.name == "deploy"
    env = {line.partition("=")[0] for line in (stack.deploy_dir / ".env").read_text().split()}
    assert "COMPOSE_FILE" in env and "COMPOSE_PROJECT_NAME" not in env
    toolbox = {item.partition("=")[0] for item in stack.container("toolbox").attrs["Config"]["Env"]}
    assert "COMPOSE_PROJECT_NAME" not in toolbox
    result = stack.toolbox("docker-compose ps -q app-prod")
    assert result.exit_code == 0, result.output
    assert result.output.split() == [stack.container("app-prod").id]


def test_every_published_port_binds_loopback(stack) -> None:
    published = {}
    for service in stack.services():
        ports = stack.container(service).attrs["NetworkSettings"]["Ports"] or {}
        for container_port, bindings in ports.items():
            for binding in bindings or []:
                published[f"{service} {container_port}"] = binding["HostIp"]
    assert published, "nothing is published"
    assert {ip for ip in published.values()} == {"127.0.0.1"}, published


def test_every_resource_carries_the_run_label(stack) -> None:
    label = f"io.gameday.run={stack.run_id}"
    containers = stack.docker.containers.list(all=True, filters={"label": label})
    assert {c.labels["com.docker.compose.service"] for c in containers} == stack.services()
    assert [n.name for n in stack.docker.networks.list(filters={"label": label})] == [
        f"{stack.project}_default"]
    volumes = {v.name for v in stack.docker.volumes.list(filters={"label": label})}
    declared = stack.deployed_config()["volumes"]
    assert volumes == {spec["name"] for spec in declared.values()}


def test_the_live_stack_is_the_deployment(stack) -> None:
    """What Compose started has the deployment file's restart policies, limits and checks."""
    declared = stack.deployed_config()["services"]
    for service, spec in declared.items():
        live = stack.container(service).attrs["HostConfig"]
        assert (live["RestartPolicy"]["Name"] or "no") == spec.get("restart", "no"), service
        assert live["Memory"] == int(spec.get("mem_limit", 0)), service
    app = stack.container("app-prod").attrs
    assert app["Config"]["Healthcheck"]["Test"] == declared["app-prod"]["healthcheck"]["test"]
    flags = httpx.get(f"{stack.endpoints.prometheus}/api/v1/status/flags").json()["data"]
    assert monitoring.seconds(flags["rules.alert.resend-delay"]) == pytest.approx(
        stack.compression.resend_delay_seconds), flags


def test_every_container_runs_this_checkouts_build(stack) -> None:
    """Each container was created from this checkout's content-hash tag (never a :latest that
    another checkout's set-up may have moved), and runs that very image."""
    containers = stack.docker.containers.list(
        filters={"label": f"com.docker.compose.project={stack.project}"})
    refs = set(stack.image_refs.values())
    started = {c.name: c.attrs["Config"]["Image"] for c in containers}
    assert started and all(ref in refs for ref in started.values()), started
    for container in containers:
        assert container.image.id == stack.docker.images.get(
            container.attrs["Config"]["Image"]).id, container.name


def test_an_answered_inference_is_recorded_and_cached(stack, postgres, redis_client) -> None:
    # A colour no other test uses, so the first answer cannot come from the cache.
    buffer = io.BytesIO()
    Image.new("RGB", (24, 24), (3, 141, 59)).save(buffer, format="PNG")
    image = buffer.getvalue()
    app = AppClient.of(stack.endpoints)
    first = app.infer(base64.b64encode(image).decode()).json()
    second = app.infer(base64.b64encode(image).decode()).json()
    assert (first["cached"], second["cached"]) == (False, True)
    assert second["result"] == first["result"]
    ids = [first["request_id"], second["request_id"]]
    rows = wait_until(lambda: postgres.execute(
        "SELECT request_id::text, task, status, image_sha256 FROM inference_records "
        "WHERE request_id::text = ANY(%s) ORDER BY created_at", (ids,)).fetchall(),
        timeout=10, what="both records in PostgreSQL")
    digest = hashlib.sha256(image).hexdigest()
    assert rows == [(rid, "captioning", "success", digest) for rid in ids]
    assert redis_client.keys(f"inference:cache:*:captioning:{digest}:*")


def test_a_healthy_release_restart_is_no_lasting_failure(stack) -> None:
    """oom, bad-config and port-conflict are detected by /health failing for RESTART_SECONDS in
    a row, because their fault restarts the service: a healthy release's restart (Compose
    recreating the app, as `docker compose up -d` does for a changed service) must stay under
    that, or the signal would be the restart, not the fault."""
    from gameday.catalog import RESTART_SECONDS, Signal
    from gameday.prober import Prober

    before = stack.container("app-prod").id
    with Prober(stack.endpoints.app, checks.tiny_png_b64(),
                api_key=stack.endpoints.current_key) as prober:
        wait_until(lambda: prober.since(0), timeout=10, what="a first probe")
        result = stack.run_compose("up", "-d", "--force-recreate", "app-prod")
        assert result.returncode == 0, result.stderr
        wait_until(lambda: AppClient(stack.endpoints.app).health().status_code == 200,
                   timeout=60, what="healthy after the restart")
        wait_until(lambda: prober.first(prober.since(0)[-1].at, lambda o: o.ok), timeout=10,
                   what="a probe after the restart")
    assert stack.container("app-prod").id != before  # it did restart
    health = [o for o in prober.since(0) if o.endpoint == "health"]
    failed = [o for o in health if not o.ok]
    assert failed, "no /health probe failed during the restart: the probe saw nothing"
    longest, start = 0.0, None
    for o in health:
        start = (start or o.at) if not o.ok else None
        longest = max(longest, o.at - start) if start else longest
    print(f"healthy restart: /health failed {len(failed)} times, longest streak {longest:.1f}s "
          f"(signal at {RESTART_SECONDS:g}s)")
    assert Signal("health", lasting=RESTART_SECONDS).seen_at(health) is None, longest


def test_the_drills_fault_flag_reaches_prometheus_and_goes_away(stack) -> None:
    """On-call tells a drill from an incident by gameday_fault_active, which the deployment's
    node exporter exports from its textfile directory while a fault is in force."""
    prometheus = PrometheusClient(stack.endpoints.prometheus)
    query = 'gameday_fault_active{job="node", scenario="smoke", fault="none"} == 1'
    assert prometheus.query(query) == []
    stack.flag_fault("smoke", "none")
    try:
        wait_until(lambda: prometheus.query(query), timeout=15, what="the flag in Prometheus")
    finally:
        stack.clear_fault_flag()
    wait_until(lambda: not prometheus.query("gameday_fault_active"), timeout=15,
               what="the flag gone from Prometheus")
