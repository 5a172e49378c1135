"""Shards of the catalog: every scenario on exactly one shard, and shards of about equal length."""

from __future__ import annotations

import pytest

from gameday import catalog

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("count", [1, 2, 3, 5])
def test_shards_cover_the_catalog_exactly_once(count: int) -> None:
    names = [s.name for i in range(1, count + 1)
             for s in catalog.shard(catalog.SCENARIOS, f"{i}/{count}")]
    assert sorted(names) == sorted(s.name for s in catalog.SCENARIOS)


@pytest.mark.parametrize("count", [2, 3])
def test_shards_take_about_as_long_each(count: int) -> None:
    loads = [sum(s.usual_seconds for s in catalog.shard(catalog.SCENARIOS, f"{i}/{count}"))
             for i in range(1, count + 1)]
    longest = max(s.usual_seconds for s in catalog.SCENARIOS)
    assert max(loads) - min(loads) <= longest, loads


def test_a_shard_keeps_the_catalog_order() -> None:
    names = [s.name for s in catalog.SCENARIOS]
    picked = [s.name for s in catalog.shard(catalog.SCENARIOS, "2/3")]
    assert picked == sorted(picked, key=names.index)


@pytest.mark.parametrize("spec", ["0/2", "3/2", "1", "a/b", ""])
def test_a_bad_shard_is_a_clear_error(spec: str) -> None:
    with pytest.raises(ValueError, match="i/n"):
        catalog.shard(catalog.SCENARIOS, spec)
