"""A run's owner is judged alive or gone by what still means something across namespaces."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from fixtures.labels import LEASE_SECONDS, Owner

pytestmark = pytest.mark.unit


def test_a_living_owner_in_this_namespace_is_alive() -> None:
    assert Owner.current().alive()


def test_a_dead_owner_in_this_namespace_is_gone() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    owner = Owner.current(child.pid)
    child.wait()
    assert not owner.alive()


def test_a_recycled_pid_is_not_the_owner() -> None:
    me = Owner.current()
    assert not Owner(me.boot_id, me.pid_namespace, me.pid, "1").alive()


def test_an_owner_in_another_pid_namespace_is_trusted_until_its_lease_ends() -> None:
    me = Owner.current()
    other = Owner(me.boot_id, "pid:[1]", 1, "123")
    assert other.alive(started=time.time())
    assert not other.alive(started=time.time() - LEASE_SECONDS - 1)


def test_an_owner_from_before_a_reboot_is_gone() -> None:
    me = Owner.current()
    assert not Owner("another-boot", me.pid_namespace, os.getpid(), me.start_time).alive()


def test_labels_round_trip() -> None:
    me = Owner.current()
    assert Owner.parse(me.label()) == me
    assert Owner.parse("12345") is None  # an old bare-pid label proves nothing
