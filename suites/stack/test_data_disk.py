"""The drill's data disk: a real ext4 filesystem of the stated size on a loop device, and a
device whose run is gone (its work directory removed, the process killed) is detached by the
next sweep."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from fixtures import data_disk, engine, sweep

pytestmark = pytest.mark.stack


def test_a_loop_disk_is_ext4_of_its_size_and_an_orphan_is_swept() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="gameday-disktest-"))
    device = data_disk.attach(workdir, size_mib=16)
    try:
        assert data_disk.devices("disktest") == [device]
        probe = subprocess.run(["blkid", "-o", "value", "-s", "TYPE", device],
                               capture_output=True, text=True)
        assert probe.stdout.strip() == "ext4"
        assert os.path.getsize(workdir / data_disk.IMAGE_NAME) == 16 * 1024 * 1024
        assert device not in data_disk.orphaned()  # its run's directory is still there

        shutil.rmtree(workdir)  # what a killed run leaves: a device with no directory
        assert device in data_disk.orphaned()
        sweep.sweep_stale(engine.client())
        assert data_disk.devices("disktest") == []
    finally:
        data_disk.detach(data_disk.devices("disktest"))
        shutil.rmtree(workdir, ignore_errors=True)
