"""Metrics in the Prometheus text format (version 0.0.4), without a dependency.

Counters and histograms are kept per label values in plain dicts under one lock each: the hot
path (a request finishing, a batch committing) is a dict lookup, a bisect and two additions.
Gauges are read when scraped, from callbacks (pool use, sessions open, approvals pending), so
they cost nothing between scrapes. Label values must come from bounded sets (route templates,
dialect names, status codes, ledger kinds), never from raw input: every series lives until the
process ends.

Only the standard library is imported here, so storage and the API can both feed a registry.
"""

from __future__ import annotations

import math
import threading
from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Seconds: from a cached read (1 ms) to a slow report (10 s).
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Commands per group commit (1 up to the largest --group-commit-max, 1000).
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000)

Labels = tuple[str, ...]
Sample = tuple[Labels, float]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def _labels(names: Sequence[str], values: Sequence[str], extra: str = "") -> str:
    parts = [f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


class _Metric:
    kind = "untyped"

    def __init__(self, name: str, help_text: str, labelnames: Sequence[str] = ()) -> None:
        self.name = name
        self.help = help_text
        self.labelnames = tuple(labelnames)

    def head(self) -> list[str]:
        text = self.help.replace("\\", "\\\\").replace("\n", "\\n")
        return [f"# HELP {self.name} {text}", f"# TYPE {self.name} {self.kind}"]

    def lines(self) -> list[str]:  # pragma: no cover - every metric renders its own
        raise NotImplementedError


class Counter(_Metric):
    """A count that only goes up, per label values."""

    kind = "counter"

    def __init__(self, name: str, help_text: str, labelnames: Sequence[str] = ()) -> None:
        super().__init__(name, help_text, labelnames)
        self._lock = threading.Lock()
        self._values: dict[Labels, float] = {}

    def inc(self, *labels: str, amount: float = 1) -> None:
        with self._lock:
            self._values[labels] = self._values.get(labels, 0) + amount

    def value(self, *labels: str) -> float:
        with self._lock:
            return self._values.get(labels, 0)

    def lines(self) -> list[str]:
        with self._lock:
            items = sorted(self._values.items())
        return [f"{self.name}{_labels(self.labelnames, k)} {_number(v)}" for k, v in items]


class Histogram(_Metric):
    """Observations counted into buckets (rendered cumulative, with _sum and _count)."""

    kind = "histogram"

    def __init__(
        self,
        name: str,
        help_text: str,
        labelnames: Sequence[str] = (),
        buckets: Sequence[float] = LATENCY_BUCKETS,
    ) -> None:
        super().__init__(name, help_text, labelnames)
        self.buckets = tuple(sorted(buckets))
        self._lock = threading.Lock()
        # per labels: [count in each bucket (the last one is +Inf), sum]
        self._values: dict[Labels, list[float]] = {}

    def observe(self, value: float, *labels: str) -> None:
        slot = bisect_left(self.buckets, value)
        with self._lock:
            row = self._values.get(labels)
            if row is None:
                row = self._values[labels] = [0.0] * (len(self.buckets) + 2)
            row[slot] += 1
            row[-1] += value

    def count(self, *labels: str) -> int:
        with self._lock:
            row = self._values.get(labels)
            return int(sum(row[:-1])) if row else 0

    def lines(self) -> list[str]:
        with self._lock:
            items = sorted((k, list(v)) for k, v in self._values.items())
        out: list[str] = []
        names = self.labelnames
        for labels, row in items:
            running = 0.0
            for bound, count in zip((*self.buckets, math.inf), row[:-1], strict=True):
                running += count
                le = f'le="{_number(bound)}"'
                out.append(f"{self.name}_bucket{_labels(names, labels, le)} {_number(running)}")
            out.append(f"{self.name}_sum{_labels(names, labels)} {_number(row[-1])}")
            out.append(f"{self.name}_count{_labels(names, labels)} {_number(running)}")
        return out


class Gauge(_Metric):
    """A value read when scraped: `read` gives (label values, value) pairs; when it fails the
    gauge is left out of that scrape (and the failure counted by the registry). With
    `kind="counter"` it exposes a total kept elsewhere that only goes up."""

    def __init__(
        self,
        name: str,
        help_text: str,
        read: Callable[[], Iterable[Sample]],
        labelnames: Sequence[str] = (),
        kind: str = "gauge",
    ) -> None:
        super().__init__(name, help_text, labelnames)
        self.read = read
        self.kind = kind

    def lines(self) -> list[str]:
        samples = sorted(self.read())
        return [f"{self.name}{_labels(self.labelnames, k)} {_number(v)}" for k, v in samples]


class Registry:
    """The metrics of one server, rendered in registration order."""

    def __init__(self) -> None:
        self._metrics: list[_Metric] = []
        # rendered last, so a gauge that failed in this scrape is counted in it
        self.scrape_errors = Counter(
            "brokerplane_metrics_scrape_errors_total",
            "Gauges that could not be read during a scrape (left out of it)",
            ("metric",),
        )

    def add(self, metric: _Metric) -> None:
        if metric.name == self.scrape_errors.name or any(
            m.name == metric.name for m in self._metrics
        ):
            raise ValueError(f"metric {metric.name} is registered already")
        self._metrics.append(metric)

    def counter(self, name: str, help_text: str, labelnames: Sequence[str] = ()) -> Counter:
        metric = Counter(name, help_text, labelnames)
        self.add(metric)
        return metric

    def histogram(
        self,
        name: str,
        help_text: str,
        labelnames: Sequence[str] = (),
        buckets: Sequence[float] = LATENCY_BUCKETS,
    ) -> Histogram:
        metric = Histogram(name, help_text, labelnames, buckets)
        self.add(metric)
        return metric

    def gauge(
        self,
        name: str,
        help_text: str,
        read: Callable[[], Iterable[Sample]],
        labelnames: Sequence[str] = (),
        kind: str = "gauge",
    ) -> Gauge:
        metric = Gauge(name, help_text, read, labelnames, kind)
        self.add(metric)
        return metric

    def render(self) -> str:
        out: list[str] = []
        for metric in self._metrics:
            try:
                lines = metric.lines()
            except Exception:
                self.scrape_errors.inc(metric.name)
                continue
            out += metric.head()
            out += lines
        out += self.scrape_errors.head()
        out += self.scrape_errors.lines()
        return "\n".join(out) + "\n"
