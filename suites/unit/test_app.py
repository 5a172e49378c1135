"""The HTTP API with PostgreSQL and Redis down: client errors stay 4xx, inference still works."""

from __future__ import annotations

import base64
import io
import json
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mmllm import testimages
from mmllm.app import create_app
from PIL import Image

from .conftest import AUTH

RED_CIRCLE = base64.b64encode(testimages.red_circle_png()).decode()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def encoded(img: Image.Image, fmt: str) -> str:
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return b64(buf.getvalue())


MALFORMED = [
    pytest.param(b"{not json", id="invalid-json"),
    pytest.param(b"", id="empty-body"),
    pytest.param(b"[1, 2]", id="array-body"),
    pytest.param(b'"captioning"', id="string-body"),
    pytest.param(b"\xff\xfe\x00", id="binary-body"),
    pytest.param({}, id="no-fields"),
    pytest.param({"task": "captioning"}, id="no-image"),
    pytest.param({"image": RED_CIRCLE}, id="no-task"),
    pytest.param({"image": 42, "task": "captioning"}, id="image-not-string"),
    pytest.param({"image": RED_CIRCLE, "task": ["captioning"]}, id="task-not-string"),
    pytest.param({"image": RED_CIRCLE, "task": "vqa", "question": 7}, id="question-not-string"),
    pytest.param({"image": RED_CIRCLE, "task": "vqa"}, id="vqa-without-question"),
    pytest.param({"image": RED_CIRCLE, "task": "translate"}, id="unknown-task"),
    pytest.param({"image": "base64_test_image", "task": "captioning"}, id="runbook-literal"),
    pytest.param({"image": "!!!!", "task": "captioning"}, id="bad-base64"),
    pytest.param({"image": "", "task": "captioning"}, id="empty-image"),
    pytest.param({"image": b64(b"hello, not an image"), "task": "captioning"}, id="not-image"),
    pytest.param({"image": b64(testimages.red_circle_png()[:60]), "task": "captioning"},
                 id="truncated-png"),
    pytest.param({"image": encoded(Image.new("RGB", (8, 8)), "GIF"), "task": "captioning"},
                 id="gif"),
]


@pytest.mark.parametrize("body", MALFORMED)
def test_malformed_inference_is_a_client_error(client: TestClient, body) -> None:
    if isinstance(body, bytes):
        response = client.post("/model/inference", content=body,
                               headers={"Content-Type": "application/json"})
    else:
        response = client.post("/model/inference", json=body)
    assert 400 <= response.status_code < 500, response.text
    payload = response.json()
    assert payload["error"] and "detail" in payload


def test_runbook_literal_gets_a_clear_message(client: TestClient) -> None:
    response = client.post("/model/inference",
                           json={"image": "base64_test_image", "task": "captioning"})
    assert response.status_code == 400
    assert "base64" in response.json()["error"]


def test_unknown_task_lists_known_tasks(client: TestClient) -> None:
    response = client.post("/model/inference", json={"image": RED_CIRCLE, "task": "dance"})
    assert response.json()["detail"]["known_tasks"] == ["captioning", "ocr", "vqa"]


def test_oversized_payload_is_413(make_config) -> None:
    with TestClient(create_app(make_config(max_image_bytes=2000)), headers=AUTH) as small:
        big = b64(testimages.png("red-circle", size=400))
        response = small.post("/model/inference", json={"image": big * 3, "task": "captioning"})
        assert response.status_code == 413
        assert response.json()["error"]


def test_decompression_bomb_is_rejected(make_config) -> None:
    bomb = encoded(Image.new("1", (4000, 4000)), "PNG")  # tiny file, 16 megapixels
    with TestClient(create_app(make_config(max_image_pixels=1_000_000)), headers=AUTH) as small:
        response = small.post("/model/inference", json={"image": bomb, "task": "captioning"})
        assert response.status_code == 413
        assert "pixels" in response.json()["error"]


def test_real_png_gets_a_caption(client: TestClient) -> None:
    response = client.post("/model/inference", json={"image": RED_CIRCLE, "task": "captioning"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["result"] == "a red circle on a white background"
    assert body["task"] == "captioning" and body["cached"] is False
    assert body["model"] == {"name": "int2_quantized", "version": "1.0.0", "quantization": "int2"}
    assert body["latency_ms"] > 0 and len(body["request_id"]) == 36


def test_jpeg_and_vqa(client: TestClient) -> None:
    jpeg = encoded(testimages.render("square", "blue", "yellow", size=128), "JPEG")
    response = client.post("/model/inference",
                           json={"image": jpeg, "task": "vqa", "question": "What shape is it?"})
    assert response.status_code == 200 and response.json()["result"] == "square"


def test_record_goes_to_file_outbox_when_both_stores_are_down(client: TestClient,
                                                              tmp_path: Path) -> None:
    response = client.post("/model/inference", json={"image": RED_CIRCLE, "task": "ocr"})
    assert response.status_code == 200
    lines = (tmp_path / "outbox" / "outbox.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["request_id"] for r in records] == [response.json()["request_id"]]
    assert records[0]["status"] == "success" and records[0]["task"] == "ocr"


def test_health_and_ready_report_failed_dependencies(client: TestClient) -> None:
    assert client.get("/alive").json() == {"status": "alive"}
    for path in ("/health", "/ready"):
        response = client.get(path)
        assert response.status_code == 503
        checks = response.json()["checks"]
        assert checks["database"]["status"] == "fail" and checks["database"]["error"]
        assert checks["redis"]["status"] == "fail" and checks["redis"]["error"]
        assert checks["model"]["status"] == "ok"
    assert "memory" in client.get("/ready").json()["checks"]


def test_corrupt_model_means_503_not_crash(make_config, model_dir: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken-models"
    shutil.copytree(model_dir, broken)
    model_file = broken / "int2_quantized.pth"
    model_file.write_bytes(model_file.read_bytes()[:-10] + b"corrupted!")
    with TestClient(create_app(make_config(model_dir=broken)), headers=AUTH) as c:
        health = c.get("/health")
        assert health.status_code == 503
        assert "checksum mismatch" in health.json()["checks"]["model"]["error"]
        response = c.post("/model/inference", json={"image": RED_CIRCLE, "task": "captioning"})
        assert response.status_code == 503
        assert response.json()["error"].startswith("model not loaded: ")
        metrics = c.get("/metrics").text
        assert "model_load_failures_total 1.0" in metrics and "model_loaded 0.0" in metrics


METRIC_NAMES = [
    "model_inference_requests_total", "model_inference_errors_total",
    "model_inference_duration_seconds_bucket", "model_load_failures_total", "model_loaded",
    "db_connections_failed_total", "app_dependency_up", "http_requests_total",
    "app_memory_limit_bytes", "inference_outbox_pending", "process_resident_memory_bytes",
    "process_cpu_seconds_total", "model_file_verified", "inference_outbox_dead_letters_total",
    "model_inference_in_flight", "process_start_time_seconds",
]


def test_metrics_exports_every_contracted_name(client: TestClient) -> None:
    client.post("/model/inference", json={"image": RED_CIRCLE, "task": "captioning"})
    client.post("/model/inference", json={"image": "base64_test_image", "task": "captioning"})
    client.get("/no/such/path/12345")
    text = client.get("/metrics").text
    names = {line.split("{")[0].split(" ")[0] for line in text.splitlines()
             if line and not line.startswith("#")}
    assert set(METRIC_NAMES) <= names
    assert 'model_inference_requests_total{status="success",task="captioning"} 1.0' in text
    assert 'model_inference_errors_total{reason="invalid_image",task="captioning"} 1.0' in text
    assert 'http_requests_total{handler="/model/inference",method="POST",status="200"}' in text
    assert "12345" not in text  # raw paths never become label values
    for dependency in ("postgres", "redis", "model"):
        assert f'app_dependency_up{{dependency="{dependency}"}}' in text


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8,
)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.dictionaries(st.sampled_from(["image", "task", "question", "x"]), json_values)
       | json_values)
def test_arbitrary_json_never_causes_5xx(client: TestClient, body) -> None:
    response = client.post("/model/inference", json=body)
    assert response.status_code < 500, response.text


def test_testimages_cli_prints_a_usable_base64_png(client: TestClient) -> None:
    import subprocess
    import sys

    from .conftest import SERVICE_DIR

    out = subprocess.run([sys.executable, "-m", "mmllm.testimages", "--base64", "red-circle"],
                         capture_output=True, text=True, cwd=SERVICE_DIR, check=True).stdout
    response = client.post("/model/inference", json={"image": out.strip(), "task": "captioning"})
    assert response.json()["result"] == "a red circle on a white background"


def test_every_metric_the_alert_rules_use_is_exported(client: TestClient) -> None:
    """The contract between alerts.yml and the service: a renamed metric silences an alert."""
    import re

    from fixtures import monitoring

    client.post("/model/inference", json={"image": RED_CIRCLE, "task": "captioning"})
    text = client.get("/metrics").text
    exported = {line.split("{")[0].split(" ")[0] for line in text.splitlines()
                if line and not line.startswith("#")}
    functions = {"sum", "by", "rate", "increase", "histogram_quantile", "min_over_time", "and",
                 "on", "unless", "or", "job", "instance", "le", "without", "max", "avg",
                 "clamp_min"}
    used = set()
    for name, rule in monitoring.rules_by_alert(monitoring.load_rules()).items():
        if any(job in str(rule["expr"]) for job in ('job="node"', 'job="synthetic-monitor"')):
            continue  # the node exporter's and the monitor's rules, not the service's
        expr = re.sub(r'\{[^}]*\}|"[^"]*"|\[[^]]*\]|\boffset\s+-?\w+', "", str(rule["expr"]))
        for word in re.findall(r"[a-z_][a-z0-9_]*", expr):
            if word not in functions and word != "up":
                used.add((name, word))
    missing = sorted((alert, metric) for alert, metric in used if metric not in exported)
    assert used and missing == []


def test_a_client_error_is_rejected_not_a_service_error(client: TestClient) -> None:
    """Bad input must not feed the error-rate alerts: it is counted as status="rejected"."""
    client.post("/model/inference", json={"image": "base64_test_image", "task": "captioning"})
    text = client.get("/metrics").text
    assert 'model_inference_requests_total{status="rejected",task="captioning"} 1.0' in text
    assert 'model_inference_requests_total{status="error",task="captioning"} 0.0' in text


@pytest.mark.parametrize("body", [
    pytest.param(b"[" * 50_000 + b"]" * 50_000, id="deep-array"),
    pytest.param(b'{"image":' * 30_000 + b"1" + b"}" * 30_000, id="deep-object"),
    pytest.param(json.dumps({"image": RED_CIRCLE, "task": "vqa", "question": "\ud800 colour?"}
                            ).encode(), id="lone-surrogate-question"),
    pytest.param(b'{"task": "ocr", "image": ' + b"9" * 5000 + b"}", id="huge-number"),
])
def test_bodies_that_used_to_crash_the_handler_are_answered(client: TestClient, body) -> None:
    response = client.post("/model/inference", content=body,
                           headers={"Content-Type": "application/json"})
    assert response.status_code in (200, 400, 422), response.text
    metrics = client.get("/metrics").text
    assert 'model_inference_requests_total{status="error",task="unknown"} 0.0' in metrics
    assert 'model_inference_requests_total{status="error",task="vqa"} 0.0' in metrics


@pytest.mark.parametrize("fmt", ["BMP", "TIFF", "WEBP", "ICO", "PPM", "TGA"])
def test_only_png_and_jpeg_are_decoded(client: TestClient, fmt: str) -> None:
    image = encoded(testimages.render("circle", "red", "white", size=64), fmt)
    response = client.post("/model/inference", json={"image": image, "task": "captioning"})
    assert response.status_code == 400
    assert "not a PNG or JPEG image" in response.json()["error"]


def test_a_phone_camera_mpo_jpeg_is_accepted(client: TestClient) -> None:
    first = testimages.render("circle", "red", "white", size=96)
    buf = io.BytesIO()
    first.save(buf, "MPO", save_all=True, append_images=[first.copy()])
    assert Image.open(io.BytesIO(buf.getvalue())).format == "MPO"
    response = client.post("/model/inference", json={"image": b64(buf.getvalue()),
                                                     "task": "captioning"})
    assert response.status_code == 200, response.text
    assert response.json()["result"] == "a red circle on a white background"


def test_openapi_describes_the_inference_body_and_its_key(client: TestClient) -> None:
    """What schemathesis (suites/properties/test_openapi.py) and clients read: the body's fields,
    the known tasks, the answers, and the Bearer key."""
    from mmllm.model import TASKS

    document = client.get("/openapi.json").json()
    operation = document["paths"]["/model/inference"]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert operation["requestBody"]["required"] is True
    assert schema["required"] == ["image", "task"]
    assert schema["properties"]["image"]["type"] == "string"
    assert schema["properties"]["image"]["format"] == "byte"
    assert schema["properties"]["task"]["enum"] == list(TASKS)
    assert schema["properties"]["question"]["type"] == "string"
    assert {"200", "400", "401", "413", "422", "503"} <= set(operation["responses"])
    assert operation["security"] == [{"bearerAuth": []}]
    assert document["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http", "scheme": "bearer",
        "description": "an API key of the keys file (auth.api_keys_file)"}
    # Open routes name no key.
    assert "security" not in document["paths"]["/health"]["get"]
    # The documented example is a real inference.
    example = operation["requestBody"]["content"]["application/json"]["example"]
    answer = client.post("/model/inference", json=example)
    assert answer.status_code == 200, answer.text
    assert answer.json()["result"] == "a red circle on a white background"


def test_the_documented_body_is_still_read_raw(client: TestClient) -> None:
    """The description changes no parsing: a JSON body under any content type is still read by
    the handler, and a body the schema allows but the handler refuses is still a 4xx."""
    body = json.dumps({"image": RED_CIRCLE, "task": "captioning"})
    response = client.post("/model/inference", content=body,
                           headers={"Content-Type": "text/plain"})
    assert response.status_code == 200, response.text
    response = client.post("/model/inference", json={"image": RED_CIRCLE, "task": "vqa"})
    assert response.status_code == 422
    assert "needs a non-empty 'question'" in response.json()["error"]


def test_health_names_the_disk_when_the_outbox_has_no_room(client: TestClient,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    import mmllm.store

    disk = client.get("/health").json()["checks"]["disk"]
    assert disk["status"] == "ok" and disk["free_bytes"] > 0
    # The same real statvfs, against a threshold above what this disk has free.
    monkeypatch.setattr(mmllm.store, "MIN_FREE_BYTES", disk["free_bytes"] * 2)
    response = client.get("/health")
    assert response.status_code == 503
    assert response.json()["checks"]["disk"]["error"].startswith("disk nearly full")
    assert "disk" not in client.get("/ready").json()["checks"]  # it can still serve
