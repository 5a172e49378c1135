"""Whatever a client sends, the service answers with a 4xx or a 200, never a 5xx, and lives on."""

from __future__ import annotations

import base64

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = [pytest.mark.stack, pytest.mark.property]

FUZZ = settings(max_examples=120, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40),
    lambda children: st.lists(children, max_size=5)
    | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=20,
)
inference_like = st.fixed_dictionaries(
    {},
    optional={
        "image": st.one_of(st.text(max_size=200), st.binary(max_size=600).map(
            lambda b: base64.b64encode(b).decode()), json_values),
        "task": st.one_of(st.sampled_from(["captioning", "ocr", "vqa", "", "CAPTIONING"]),
                          json_values),
        "question": json_values,
    },
)


def post(stack, **kwargs) -> httpx.Response:
    return httpx.post(f"{stack.endpoints.app}/model/inference", timeout=10, **kwargs)


@pytest.fixture(scope="module")
def app_started_at(stack_manager) -> str:
    """When the app process started, before any fuzzing: it must not have changed after."""
    return stack_manager.get().container("app-prod").attrs["State"]["StartedAt"]


@FUZZ
@given(body=json_values)
def test_arbitrary_json_is_a_client_error(stack, app_started_at, body) -> None:
    response = post(stack, json=body)
    assert response.status_code < 500, response.text


@FUZZ
@given(body=inference_like)
def test_inference_shaped_bodies_never_5xx(stack, body) -> None:
    response = post(stack, json=body)
    assert response.status_code in (200,) or 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"].startswith("application/json")


@FUZZ
@given(raw=st.binary(max_size=2000), content_type=st.sampled_from(
    ["application/json", "text/plain", "application/octet-stream", "multipart/form-data"]))
def test_arbitrary_bytes_never_5xx(stack, raw, content_type) -> None:
    response = post(stack, content=raw, headers={"content-type": content_type})
    assert response.status_code < 500, response.text


def test_the_service_survived_the_fuzzing(stack, app_started_at) -> None:
    """Runs after the fuzz tests in this module: the same process still answers."""
    assert httpx.get(f"{stack.endpoints.app}/alive", timeout=5).status_code == 200
    state = stack.container("app-prod").attrs["State"]
    assert state["Running"] and state["StartedAt"] == app_started_at
