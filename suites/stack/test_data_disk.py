"""The drill's data disk: a real ext4 filesystem of the stated size on a loop device. A device
whose run is gone (its owner dead, or its work directory removed) is detached by the next
sweep, even if the run died before Compose labelled anything; a live run's is left alone."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from fixtures import data_disk, engine, sweep
from fixtures.labels import Owner

pytestmark = pytest.mark.stack


def dead_owner() -> Owner:
    child = subprocess.Popen(["sleep", "30"])
    owner = Owner.current(child.pid)
    child.kill()
    child.wait()
    return owner


@pytest.fixture
def disk() -> Iterator[Path]:
    workdir = Path(tempfile.mkdtemp(prefix="gameday-disktest-"))
    yield workdir
    data_disk.detach(data_disk.devices("disktest"))
    shutil.rmtree(workdir, ignore_errors=True)


def test_a_loop_disk_is_ext4_of_its_size(disk: Path) -> None:
    device = data_disk.attach(disk, Owner.current().label(), "0", size_mib=16)
    assert data_disk.devices("disktest") == [device]
    probe = subprocess.run(["blkid", "-o", "value", "-s", "TYPE", device],
                           capture_output=True, text=True)
    assert probe.stdout.strip() == "ext4"
    assert os.path.getsize(disk / data_disk.IMAGE_NAME) == 16 * 1024 * 1024


@pytest.mark.parametrize("gone", ["owner killed", "directory removed"])
def test_a_dead_runs_device_is_swept_and_a_live_ones_is_not(disk: Path, gone: str) -> None:
    owner = dead_owner() if gone == "owner killed" else Owner.current()
    device = data_disk.attach(disk, owner.label(), "0", size_mib=16)
    if gone == "directory removed":
        assert "disktest" not in data_disk.stale_runs()  # alive, directory there: left alone
        shutil.rmtree(disk)
    assert "disktest" in data_disk.stale_runs()
    sweep.sweep_stale(engine.client())
    assert device not in data_disk.devices()
    assert not disk.exists()  # the work directory goes with it


def test_a_device_whose_run_cannot_be_proven_dead_is_left_alone(disk: Path) -> None:
    """A run of an older version wrote no owner file: while its directory is there and its
    lease runs, a sweep must not take its disk away (it would take its stack too)."""
    device = data_disk.attach(disk, Owner.current().label(), "0", size_mib=16)
    (disk / data_disk.OWNER_NAME).unlink()
    assert "disktest" not in data_disk.stale_runs()
    sweep.sweep_stale(engine.client())
    assert data_disk.devices("disktest") == [device]
