"""The suite must FAIL when what a scenario guards is broken: its alert rule, its health check,
its runbook's recovery step, its deployment's restart policy, the service's storage, or the
cleanup of the fault. Each must fail in the right phase with the right category. A passing
variant here is the worst defect the suite can have."""

from __future__ import annotations

import re

import pytest

from gameday import runbook
from gameday.catalog import SCENARIOS, shard
from gameday.lifecycle import Lifecycle, ScenarioFailed
from gameday.variants import VARIANTS, without_step

pytestmark = [pytest.mark.stack, pytest.mark.broken_variant]

CASES = [(s, v) for s in SCENARIOS for v in VARIANTS if v.applies(s)]
# `--variants sample` (make test): every kind of breakage once, on the first scenario it
# applies to; `--variants all` (make variants, nightly): every case.
SAMPLE = {v.name: (s, v) for s, v in reversed(CASES)}.values()


@pytest.mark.parametrize(("broken_scenario", "variant"), CASES,
                         ids=[f"{s.name}-{v.name}" for s, v in CASES])
def test_suite_fails_when_broken(stack, broken_scenario, variant, request, observers,
                                 load_rate) -> None:
    wanted = request.config.getoption("--scenario")
    if wanted and broken_scenario.name not in wanted:
        pytest.skip("scenario not selected")
    spec = request.config.getoption("--shard")
    if spec and broken_scenario not in shard(SCENARIOS, spec):
        pytest.skip(f"scenario not in shard {spec}")
    if request.config.getoption("--variants") == "sample" and not any(
            case == (broken_scenario, variant) for case in SAMPLE):
        pytest.skip("not in the sample (--variants all runs every case)")
    with variant.breaks(stack, broken_scenario) as lifecycle_kwargs:
        with pytest.raises(ScenarioFailed) as failure:
            Lifecycle(stack, broken_scenario, variant=variant.name, observers=observers,
                      load_rate=load_rate, **lifecycle_kwargs).run()
    caught = failure.value
    assert (caught.phase, caught.category) == (variant.phase, variant.category), caught
    if variant.names_runbook_line:
        text, removed_at = without_step(broken_scenario)
        named = re.search(rf"{re.escape(broken_scenario.runbook)}:(\d+): `", caught.message)
        assert named, f"the failure does not name a line of {broken_scenario.runbook}: {caught}"
        line = int(named.group(1))
        section = dict(runbook.section_lines(text, broken_scenario.section))
        assert line in section and line >= removed_at, (line, removed_at, caught.message)
        assert section[line].strip() in caught.message
