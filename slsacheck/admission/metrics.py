"""The webhook's counters and latency histogram, in Prometheus' text exposition format.

Written by hand (format 0.0.4: `# HELP`, `# TYPE`, one sample per line, label values
escaped) so the server needs no client library. `Metrics.value(name, **labels)` reads a
sample back: tests and the benchmark count verifications and cache hits through it,
the same numbers an operator sees on `/metrics`.

Updates come from the event loop and from verification threads, so a lock guards them.
A cached review makes about ten updates; `Metrics.add` makes a batch of them, each to a
series named once in advance (`Counter.series`), under one acquisition of the lock.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Sequence

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 8.0, 10.0)

Labels = tuple[tuple[str, str], ...]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: Labels, extra: Labels = ()) -> str:
    items = (*labels, *extra)
    if not items:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in items) + "}"


def _key(labels: dict[str, str]) -> Labels:
    # Sorted so that label order never splits a series; one label (the usual case) needs no sort.
    return tuple(labels.items()) if len(labels) < 2 else tuple(sorted(labels.items()))


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)


class _Family:
    def __init__(self, name: str, kind: str, help_text: str) -> None:
        self.name = name
        self.kind = kind
        self.help = help_text


class Counter(_Family):
    def __init__(self, name: str, help_text: str, lock: threading.Lock) -> None:
        super().__init__(name, "counter", help_text)
        self._lock = lock
        self._values: dict[Labels, float] = {}

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        key = _key(labels)
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def series(self, **labels: str) -> Increment:
        """One increment of the series with these labels, for `Metrics.add`."""
        return Increment(self._values, _key(labels), 1.0)

    def value(self, **labels: str) -> float:
        with self._lock:
            return self._values.get(_key(labels), 0.0)

    def total(self) -> float:
        with self._lock:
            return sum(self._values.values())

    def lines(self) -> list[str]:
        with self._lock:
            return [f"{self.name}{_labels(k)} {_number(v)}" for k, v in sorted(self._values.items())]


class Increment:
    """`amount` more in one series of a counter (a dict and its key, looked up once)."""

    __slots__ = ("amount", "key", "values")

    def __init__(self, values: dict[Labels, float], key: Labels, amount: float) -> None:
        self.values = values
        self.key = key
        self.amount = amount

    def times(self, amount: float) -> Increment:
        return Increment(self.values, self.key, amount)


class Histogram(_Family):
    def __init__(self, name: str, help_text: str, lock: threading.Lock, buckets: Sequence[float]) -> None:
        super().__init__(name, "histogram", help_text)
        self._lock = lock
        self._buckets = tuple(buckets)
        # Per series: observations per bucket (not cumulative; the last slot is above every
        # bound), and [sum, count]. One bucket is found by bisection; `lines` adds them up.
        self._series: dict[Labels, tuple[list[int], list[float]]] = {}

    def observe(self, seconds: float, **labels: str) -> None:
        key = _key(labels)
        with self._lock:
            self.observe_locked(key, seconds)

    def series(self, **labels: str) -> Labels:
        """The key of the series with these labels, for `Metrics.answered`."""
        return _key(labels)

    def observe_locked(self, key: Labels, seconds: float) -> None:
        """`observe` for a caller that holds the lock (`Metrics.answered`)."""
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = ([0] * (len(self._buckets) + 1), [0.0, 0.0])
        counts, totals = series
        counts[bisect_left(self._buckets, seconds)] += 1  # the first bound >= seconds: `le` semantics
        totals[0] += seconds
        totals[1] += 1

    def count(self, **labels: str) -> float:
        with self._lock:
            found = self._series.get(_key(labels))
            return found[1][1] if found else 0.0

    def lines(self) -> list[str]:
        out = []
        with self._lock:
            for key, (counts, (total, count)) in sorted(self._series.items()):
                below = 0
                for bound, n in zip(self._buckets, counts, strict=False):
                    below += n
                    out.append(f"{self.name}_bucket{_labels(key, (('le', _number(bound)),))} {below}")
                out.append(f"{self.name}_bucket{_labels(key, (('le', '+Inf'),))} {_number(count)}")
                out.append(f"{self.name}_sum{_labels(key)} {total!r}")
                out.append(f"{self.name}_count{_labels(key)} {_number(count)}")
        return out


class Metrics:
    """Every metric the webhook exports (names prefixed `slsacheck_admission_`)."""

    def __init__(self) -> None:
        lock = self._lock = threading.Lock()
        p = "slsacheck_admission_"
        self.requests = Counter(p + "requests_total", "AdmissionReview requests received, by endpoint.", lock)
        self.bad_requests = Counter(p + "bad_requests_total", "Requests refused with HTTP 400/413.", lock)
        self.decisions = Counter(
            p + "decisions_total", "Answers by endpoint and decision (allowed, denied, warned, skipped).", lock)
        self.latency = Histogram(p + "request_duration_seconds", "Time to answer a review, by endpoint.", lock,
                                 LATENCY_BUCKETS)
        self.image_decisions = Counter(
            p + "image_decisions_total",
            "Images decided, by how: no_match (no registry call), cache, verified, shared (joined a running "
            "verification), unchanged (UPDATE without new images), invalid, budget, unresponsive (its registry "
            "is marked unresponsive: denied without a call).", lock)
        self.cache_hits = Counter(p + "cache_hits_total", "Cache hits, by cache (verdict, tag).", lock)
        self.cache_misses = Counter(p + "cache_misses_total", "Cache misses, by cache (verdict, tag).", lock)
        self.verifications = Counter(p + "verifications_total", "Gate verifications run (registry + crypto).", lock)
        self.resolutions = Counter(p + "tag_resolutions_total", "Tags resolved to digests at the registry.", lock)
        self.registry_errors = Counter(
            p + "registry_errors_total", "Verifications or resolutions the registry kept from completing.", lock)
        self.budget_exceeded = Counter(p + "budget_exceeded_total", "Reviews answered at the time budget.", lock)
        self.unresponsive_marks = Counter(
            p + "registry_unresponsive_total",
            "Times a registry host was marked unresponsive (a call to it ran past half the budget).", lock)
        self.reloads = Counter(p + "policy_reloads_total", "Policy reloads, by result (applied, rejected).", lock)
        self._families: tuple[Counter | Histogram, ...] = (
            self.requests, self.bad_requests, self.decisions, self.latency, self.image_decisions, self.cache_hits,
            self.cache_misses, self.verifications, self.resolutions, self.registry_errors, self.budget_exceeded,
            self.unresponsive_marks, self.reloads,
        )

    def add(self, increments: Sequence[Increment]) -> None:
        """Every increment, under one acquisition of the lock."""
        with self._lock:
            _apply(increments)

    def answered(self, increments: Sequence[Increment], latency: Labels, seconds: float) -> None:
        """A review's counts and its time in the latency histogram, under one acquisition of the lock."""
        with self._lock:
            _apply(increments)
            self.latency.observe_locked(latency, seconds)

    def render(self) -> str:
        lines: list[str] = []
        for family in self._families:
            lines.append(f"# HELP {family.name} {family.help}")
            lines.append(f"# TYPE {family.name} {family.kind}")
            lines.extend(family.lines())
        return "\n".join(lines) + "\n"


def _apply(increments: Sequence[Increment]) -> None:
    """Add each increment to its series (the caller holds the metrics' lock)."""
    for one in increments:
        one.values[one.key] = one.values.get(one.key, 0.0) + one.amount
