"""Shards of the catalog: every scenario on exactly one shard, stable as the catalog grows."""

from __future__ import annotations

import dataclasses

import pytest

from gameday import catalog

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("count", [1, 2, 3, 5])
def test_shards_cover_the_catalog_exactly_once(count: int) -> None:
    names = [s.name for i in range(1, count + 1)
             for s in catalog.shard(catalog.SCENARIOS, f"{i}/{count}")]
    assert sorted(names) == sorted(s.name for s in catalog.SCENARIOS)


def test_a_scenario_keeps_its_shard_when_another_is_added() -> None:
    before = {s.name for s in catalog.shard(catalog.SCENARIOS, "1/3")}
    added = dataclasses.replace(catalog.SCENARIOS[0], name="a-new-scenario")
    after = {s.name for s in catalog.shard((*catalog.SCENARIOS, added), "1/3")}
    assert after - {"a-new-scenario"} == before


@pytest.mark.parametrize("spec", ["0/2", "3/2", "1", "a/b", ""])
def test_a_bad_shard_is_a_clear_error(spec: str) -> None:
    with pytest.raises(ValueError, match="i/n"):
        catalog.shard(catalog.SCENARIOS, spec)
