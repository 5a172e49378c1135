"""What a catalog Signal counts as detection: a failing answer (naming its cause), or, for a
fault where nothing fails, an answer slower than the scenario says."""

from __future__ import annotations

from gameday.catalog import BY_NAME, Signal


def test_a_failure_signal_ignores_good_answers_and_other_causes() -> None:
    signal = Signal("health", "database")
    assert signal.matches("health", False, '{"database": "unavailable"}')
    assert not signal.matches("health", True, '{"database": "ok"}', seconds=9.0)
    assert not signal.matches("health", False, '{"model": "missing"}')
    assert not signal.matches("ready", False, '{"database": "unavailable"}')


def test_a_slow_signal_counts_answers_slower_than_its_limit_only() -> None:
    signal = Signal("inference", slower_than=0.4)
    assert signal.matches("inference", True, "{}", seconds=0.41)
    assert signal.matches("inference", False, "ReadTimeout", seconds=2.0)
    assert not signal.matches("inference", True, "{}", seconds=0.05)
    assert not signal.matches("health", True, "{}", seconds=3.0)
    assert str(signal) == "inference slower than 0.4s"


def test_slow_database_is_detected_by_a_probe_not_by_its_own_injection() -> None:
    scenario = BY_NAME["slow-database"]
    assert [s.slower_than for s in scenario.detect] == [0.4]
    assert not [e for e in scenario.evidence if e.kind == "injection"]
