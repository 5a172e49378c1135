"""The suite must FAIL when what a scenario guards is broken: its alert rule, its health check
or its runbook's recovery step. A passing variant here is the worst defect the suite can have."""

from __future__ import annotations

import pytest

from suites.scenarios.catalog import SCENARIOS
from suites.scenarios.lifecycle import Lifecycle, ScenarioFailed
from suites.scenarios.variants import VARIANTS

pytestmark = [pytest.mark.stack, pytest.mark.broken_variant]

CASES = [(s, v) for s in SCENARIOS for v in VARIANTS if v.applies(s)]


@pytest.mark.parametrize(("broken_scenario", "variant"), CASES,
                         ids=[f"{s.name}-{v.name}" for s, v in CASES])
def test_suite_fails_when_broken(stack, broken_scenario, variant, request) -> None:
    wanted = request.config.getoption("--scenario")
    if wanted and broken_scenario.name not in wanted:
        pytest.skip("scenario not selected")
    with variant.breaks(stack, broken_scenario) as lifecycle_kwargs:
        with pytest.raises(ScenarioFailed) as failure:
            Lifecycle(stack, broken_scenario, variant=variant.name, **lifecycle_kwargs).run()
    assert failure.value.category in variant.expected, failure.value
