"""categories.json and environment.properties: failure messages land in the right category,
as Allure 2 reads the regexes (whole message, every match) and as Allure 3 does (search,
first match)."""

from __future__ import annotations

import json
import re

import pytest

from gameday.journal import Category
from reporting import allure_env
from suites.reports.conftest import NEW_RUN, db_down, port_conflict

pytestmark = pytest.mark.report

PRODUCT, SUITE = "Product defect", "Suite or infrastructure"
SAMPLES = [
    # (status, message, expected group, expected category suffix)
    ("failed", "[detect/not-detected] not seen within 15s: ['health fails']", PRODUCT,
     "not detected"),
    ("failed", "gameday.lifecycle.ScenarioFailed: [alert/alert-missing] "
               "ModelServiceDown not firing within 24.8s", PRODUCT, "alert missing"),
    ("failed", "[validate/alert-wrong] DatabaseConnectionFailure still firing 60s after "
               "recovery", PRODUCT, "alert wrong"),
    ("failed", "[recover/recovery-failed] service-down.md:39: exited 1\nError response",
     PRODUCT, "recovery failed"),
    ("failed", "[detect/budget-exceeded] time to detect 30.1s over its budget 15s", PRODUCT,
     "budget exceeded"),
    ("failed", "[alert/alert-late] DatabaseConnectionFailure reached the receiver at 31.5s, "
               "after its deadline 19.9s", PRODUCT, "alert late"),
    ("failed", "[validate/resolved-early] ModelServiceDown resolved 2s after the page",
     PRODUCT, "resolved early"),
    ("failed", "[alert/alert-unexpected] HighCPUUsage fired", PRODUCT, "alert unexpected"),
    ("failed", "[validate/load-missing] the load recorded 3 inferences", PRODUCT,
     "load missing"),
    ("failed", "[validate/restarted] app-prod restarted (restart count 0 -> 1)", PRODUCT,
     "restarted"),
    ("failed", "[validate/data-lost] 3 of 212 answered inferences are not in PostgreSQL",
     PRODUCT, "data lost"),
    ("failed", "[residue/residue] left behind: ['gameday-port-holder']", PRODUCT, "residue"),
    ("failed", "[alert/paged] ['ModelServiceDown'] paged, but the deployment promises to heal "
               "this fault by itself", PRODUCT, "paged"),
    ("failed", "[steady state/steady-state] the stack is not healthy: health 503", SUITE,
     "steady state"),
    ("failed", "[suite/suite-or-infrastructure] the toolbox image is missing", SUITE,
     "suite or infrastructure"),
    ("broken", "docker.errors.APIError: 500 Server Error: Internal Server Error", SUITE,
     "broken test"),
    ("failed", "Failed: DID NOT RAISE <class 'gameday.lifecycle.ScenarioFailed'>",
     SUITE, "other failure"),
    ("failed", "AssertionError: assert 'failed' == 'passed'", SUITE, "other failure"),
    ("failed", "AssertionError: a message that mentions [detect/not-detected] later", SUITE,
     "other failure"),
]


def _matches(category: dict, status: str, message: str, search: bool) -> bool:
    if status not in category.get("matchedStatuses", []):
        return False
    regex = category.get("messageRegex")
    if regex is None:
        return True
    # Allure 3 compiles with JavaScript's RegExp and calls test(); Allure 2 uses Java's
    # String.matches (whole message). Python's re agrees with both for these patterns.
    return bool(re.search(regex, message) if search else re.fullmatch(regex, message))


def allure2(categories: list[dict], status: str, message: str) -> list[str]:
    return [c["name"] for c in categories if _matches(c, status, message, search=False)]


def allure3(categories: list[dict], status: str, message: str) -> str | None:
    return next((c["name"] for c in categories if _matches(c, status, message, search=True)),
                None)


@pytest.mark.parametrize(("status", "message", "group", "name"), SAMPLES,
                         ids=[s[3] + "-" + str(i) for i, s in enumerate(SAMPLES)])
def test_each_message_lands_in_exactly_one_category(tmp_path, status, message, group,
                                                    name) -> None:
    categories = json.loads(allure_env.write_categories(tmp_path).read_text())
    assert allure2(categories, status, message) == [f"{group}: {name}"]
    assert allure3(categories, status, message) == f"{group}: {name}"


def test_journal_failures_land_in_their_category() -> None:
    categories = allure_env.categories()
    for journal in (port_conflict(), db_down(variant="alert-rule-removed")):
        failure = journal.failure
        message = f"[{failure.phase}/{failure.category}] {failure.message}"
        assert allure2(categories, "failed", message) == [
            f"{PRODUCT}: {failure.category.value.replace('-', ' ')}"]


def test_categories_are_built_from_the_category_enum() -> None:
    names = {c["name"] for c in allure_env.categories()}
    for category in Category:
        group = PRODUCT if category.product_defect else SUITE
        assert f"{group}: {category.value.replace('-', ' ')}" in names
    assert set(allure_env.MEANING) == set(Category)
    assert sum(c.product_defect for c in Category) >= 8


def test_environment_properties(tmp_path) -> None:
    path = allure_env.write_environment(tmp_path, {
        "run.id": NEW_RUN, "image app-prod": "sha256:4f2c", "postgres": "16.4",
        "note": "line one\nline two", "POSTGRES_PASSWORD": "hunter2"}, secrets=["hunter2"])
    assert path.name == "environment.properties"
    lines = path.read_text().splitlines()
    assert "run.id=f6e5d4c3b2" in lines
    assert r"image\ app-prod=sha256:4f2c" in lines
    assert r"note=line one\nline two" in lines
    assert "POSTGRES_PASSWORD=[REDACTED]" in lines
