"""`plan=1` prints what a scenario or a game day would do and changes nothing: no container,
network, volume, image, work directory or deployment file."""

from __future__ import annotations

import hashlib
import subprocess
import tempfile
from pathlib import Path

import pytest

from fixtures import engine

pytestmark = pytest.mark.stack
ROOT = Path(__file__).resolve().parents[2]


def snapshot() -> dict:
    client = engine.client()
    return {
        "containers": sorted((c["Id"], c["State"]) for c in client.api.containers(all=True)),
        "networks": sorted(n["Id"] for n in client.api.networks()),
        "volumes": sorted(v["Name"] for v in client.api.volumes()["Volumes"] or []),
        "images": sorted(i["Id"] for i in client.api.images(all=True)),
        "work directories": sorted(p.name for p in Path(tempfile.gettempdir()).glob("gameday-*")),
        "target": {str(p.relative_to(ROOT)): hashlib.sha256(p.read_bytes()).hexdigest()
                   for p in sorted((ROOT / "target").rglob("*")) if p.is_file()},
    }


def make(*args: str) -> str:
    result = subprocess.run(["make", "--no-print-directory", *args], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_a_plan_prints_the_scenario_and_touches_nothing() -> None:
    before = snapshot()
    one = make("chaos", "scenario=db-hung", "plan=1")
    every = make("gameday", "plan=1")
    assert snapshot() == before
    assert "Nothing below has been done" in one
    assert "pause_container(service='postgres')" in one
    assert ("DatabaseConnectionFailure (critical, to oncall-critical) within 3m of the symptom"
            in one)
    assert "database-issues.md" in one and "$ docker-compose restart postgres" in one
    assert "inference fails even once during the fault" in one
    assert every.count("\n  fault ") == every.count("\n  runbook ") > 20


def test_a_plan_of_an_unknown_scenario_lists_the_known_ones() -> None:
    result = subprocess.run(["make", "--no-print-directory", "chaos", "scenario=no-such",
                             "plan=1"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "unknown scenario 'no-such'" in result.stderr and "db-hung" in result.stderr
