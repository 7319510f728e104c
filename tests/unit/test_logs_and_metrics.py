"""The log formats keep what callers send on its own line, and the metrics text is what
Prometheus parses: escaped label values, cumulative buckets, a failing gauge left out."""

from __future__ import annotations

import json
import logging

from brokerplane.logs import REQUEST, JsonFormatter, RequestFields, TextFormatter
from brokerplane.metrics import Registry
from brokerplane.redact import RedactSecrets


def _record(msg: str, *args: object, exc: bool = False, **extra: object) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ValueError("bad value\n2026-01-01T00:00:00.000Z INFO forged: line")
        except ValueError:
            import sys

            exc_info = sys.exc_info()
    record = logging.LogRecord(
        "brokerplane.test", logging.WARNING, __file__, 1, msg, args, exc_info
    )
    for name, value in extra.items():
        setattr(record, name, value)
    for step in (RedactSecrets(), RequestFields()):
        step.filter(record)
    return record


def test_text_lines_cannot_be_split_by_what_a_caller_sent() -> None:
    record = _record(
        "unexpected error in MT5 command %s",
        "user/get\nINFO forged\u2028x\x1b[31m",
        exc=True,
        request_id='r "1"\nx',
        manager=1000,
    )
    text = TextFormatter().format(record)
    first, *rest = text.split("\n")
    assert first.startswith(tuple("0123456789"))
    assert "user/get\\nINFO forged\\u2028x\\x1b[31m" in first
    assert 'request_id="r \\"1\\"\\nx"' in first and "manager=1000" in first
    assert rest and all(line.startswith("    ") for line in rest)  # the traceback, indented
    assert any("forged: line" in line for line in rest)


def test_json_lines_carry_the_fields_and_mask_secrets() -> None:
    token = REQUEST.set({"request_id": "req_1", "dialect": "ctrader", "manager": 7})
    try:
        record = _record("GET %s", "/x?token=abc", path="/x?token=abc&login=5", status=200)
    finally:
        REQUEST.reset(token)
    entry = json.loads(JsonFormatter().format(record))
    assert entry["message"] == "GET /x?token=***"
    assert entry["path"] == "/x?token=***&login=5"
    assert (entry["request_id"], entry["dialect"], entry["manager"]) == ("req_1", "ctrader", 7)
    assert entry["level"] == "warning" and entry["time"].endswith("Z")


def test_metrics_text_is_escaped_cumulative_and_survives_a_failing_gauge() -> None:
    registry = Registry()
    hits = registry.counter("t_hits_total", "Hits\nby path", ("path",))
    hits.inc('a"b\\c\nd')
    hist = registry.histogram("t_seconds", "Time", (), buckets=(0.1, 1.0))
    for seconds in (0.05, 0.5, 5.0):
        hist.observe(seconds)

    def broken() -> list[tuple[tuple[str, ...], float]]:
        raise RuntimeError("database down")

    registry.gauge("t_broken", "Fails", broken)
    text = registry.render()
    assert "# HELP t_hits_total Hits\\nby path" in text
    assert 't_hits_total{path="a\\"b\\\\c\\nd"} 1' in text
    assert 't_seconds_bucket{le="0.1"} 1' in text
    assert 't_seconds_bucket{le="1"} 2' in text
    assert 't_seconds_bucket{le="+Inf"} 3' in text
    assert "t_seconds_count 3" in text and "t_seconds_sum 5.55" in text
    assert "t_broken" not in text.replace('metric="t_broken"', "")
    assert 'brokerplane_metrics_scrape_errors_total{metric="t_broken"} 1' in text
