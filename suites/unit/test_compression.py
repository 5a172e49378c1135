"""Time compression is one factor: every duration of the monitoring is divided by it, exactly,
and syntax that a division cannot scale stops the run with a clear error."""

from __future__ import annotations

import pytest

from fixtures import monitoring
from fixtures.monitoring import Compression, CompressionError

pytestmark = pytest.mark.unit

RULES = {"groups": [{"name": "g", "rules": [
    {"alert": "A", "expr": 'up{job="x"} == 0', "for": "1m"},
    {"alert": "B", "expr": "rate(errors_total[5m]) / rate(requests_total[2m]) > 0.1",
     "for": "5m"},
    {"alert": "C", "expr": "increase(x_total[1h30m]) > 0"},
]}]}


def test_rules_for_and_windows_are_divided_exactly() -> None:
    compressed = monitoring.rules_by_alert(monitoring.compress_rules(RULES, Compression(15)))
    assert compressed["A"]["for"] == "4000ms"
    assert compressed["B"]["for"] == "20000ms"
    assert compressed["B"]["expr"] == ("rate(errors_total[20000ms]) / "
                                       "rate(requests_total[8000ms]) > 0.1")
    assert compressed["C"]["expr"] == "increase(x_total[360000ms]) > 0"
    assert "for" not in compressed["C"]
    groups = monitoring.compress_rules(RULES, Compression(15))["groups"]
    assert groups[0]["interval"] == "1000ms"  # the production 15 s evaluation


def test_prometheus_intervals_use_the_same_factor(tmp_path) -> None:
    import yaml

    monitoring.write_prometheus_dir(tmp_path, RULES, Compression(30))
    config = yaml.safe_load((tmp_path / "prometheus.yml").read_text())
    assert config["global"]["scrape_interval"] == "500ms"
    assert config["global"]["evaluation_interval"] == "500ms"


def test_alertmanager_waits_use_the_same_factor() -> None:
    production = {"global": {"resolve_timeout": "5m"},
                  "route": {"receiver": "r", "group_wait": "10s", "group_interval": "1m",
                            "repeat_interval": "4h",
                            "routes": [{"receiver": "x", "group_wait": "30s"}]}}
    compressed = monitoring.compress_alertmanager(production, Compression(15))
    route = compressed["route"]
    assert (route["group_wait"], route["group_interval"], route["repeat_interval"]) == (
        "667ms", "4000ms", "960000ms")
    assert route["routes"][0]["group_wait"] == "2000ms"
    assert compressed["global"]["resolve_timeout"] == "20000ms"


def test_expected_alert_delay_is_for_plus_scrape_and_evaluation_lag() -> None:
    assert monitoring.expected_alert_delay(RULES, "A", Compression(15)) == pytest.approx(6.0)
    assert monitoring.expected_alert_delay(RULES, "C", Compression(15)) == pytest.approx(2.0)


@pytest.mark.parametrize("expr", [
    "rate(x_total[5m:1m]) > 0",  # a subquery
    "rate(x_total[5m] offset 1hour) > 0",  # not a Prometheus unit
    "rate(x_total[5m] @ 1609746000) > 0",
    "rate(x_total[5mins]) > 0",  # not a Prometheus unit
])
def test_unscalable_syntax_stops_the_run(expr: str) -> None:
    rules = {"groups": [{"name": "g", "rules": [{"alert": "X", "expr": expr}]}]}
    with pytest.raises(CompressionError):
        monitoring.compress_rules(rules, Compression(15))


def test_an_offset_is_divided_like_a_window() -> None:
    """A baseline that ends 10 minutes back ends 40 s back at 1/15: the same share of history."""
    assert Compression(15).expr("rate(x[1h] offset 10m) > rate(x[5m] offset -1m)") == (
        "rate(x[240000ms] offset 40000ms) > rate(x[20000ms] offset -4000ms)")


def test_a_window_too_short_for_two_scrapes_stops_the_run() -> None:
    rules = {"groups": [{"name": "g", "rules": [{"alert": "X", "expr": "rate(x[15s]) > 0"}]}]}
    with pytest.raises(CompressionError, match="lower the factor"):
        monitoring.compress_rules(rules, Compression(15))


def test_the_real_monitoring_files_compress_with_the_default_factor(tmp_path) -> None:
    rules = monitoring.load_rules()
    monitoring.write_prometheus_dir(tmp_path / "p", rules, Compression())
    monitoring.write_alertmanager_config(tmp_path / "a.yml", Compression())
    assert monitoring.DEFAULT_FACTOR == 15


def test_expected_alert_delay_includes_a_window_the_symptom_must_fill() -> None:
    """min_over_time(...[10m]) > 0 holds only after ten minutes of symptom: 40 s at 1/15."""
    rules = {"groups": [{"name": "g", "rules": [
        {"alert": "Stuck", "expr": 'min_over_time(pending{job="x"}[10m]) > 0', "for": "5m"}]}]}
    assert monitoring.expected_alert_delay(rules, "Stuck", Compression(15)) == pytest.approx(62.0)
