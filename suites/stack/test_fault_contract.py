"""Every fault of the catalog keeps its contract on the live stack: after inject the residue
check sees it; revert removes it; a second revert is harmless; then no residue is left."""

from __future__ import annotations

import pytest

from gameday.catalog import SCENARIOS

pytestmark = pytest.mark.stack

# A fault the deployment heals by itself (a crash the restart policy restarts) leaves nothing
# for a residue check to see by design; its scenario proves the healing instead.
FAULTS = list({str(s.fault): s.fault for s in SCENARIOS if not s.self_heals}.values())


@pytest.mark.parametrize("spec", FAULTS, ids=[spec.module for spec in FAULTS])
def test_fault_contract(stack, spec) -> None:
    fault = spec.build()
    try:
        fault.inject(stack)
        assert fault.residue(stack), f"{spec}: the residue check does not see the fault"
    finally:
        fault.revert(stack)
    fault.revert(stack)
    assert fault.residue(stack) == []
