"""Statistics of repeated measurements, and the cells a result table shows of them.

Each figure of the benchmarks is a median over repeated runs with its min and max
(``Stat``, ``measure``), and its ratio to a baseline measured in the same run
(``ratio``); ``ms``, ``secs`` and ``mmm`` format them for ``bench.results.Table``.

Its own module because every section measures and formats the same way, whatever it
measures. (Not ``statistics``: scripts run as ``python bench/X.py`` have bench/ first
on ``sys.path``, and the standard library's ``statistics`` must stay reachable.)
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Callable, Iterable


@dataclass(frozen=True)
class Stat:
    """Median, min and max of repeated measurements (seconds, bytes, whatever the unit)."""

    values: tuple[float, ...]

    @classmethod
    def of(cls, values: Iterable[float]) -> "Stat":
        values = tuple(float(v) for v in values)
        if not values:
            raise ValueError("no measurements")
        return cls(values)

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def min(self) -> float:
        return min(self.values)

    @property
    def max(self) -> float:
        return max(self.values)

    @property
    def n(self) -> int:
        return len(self.values)

    def scaled(self, factor: float) -> "Stat":
        return Stat(tuple(v * factor for v in self.values))


def measure(fn: Callable[[], object], repeats: int, warmup: int = 1) -> Stat:
    """Wall time of ``fn`` over ``repeats`` runs after ``warmup`` unmeasured ones."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return Stat.of(times)


def ms(seconds: float, digits: int | None = None) -> str:
    value = seconds * 1000
    if digits is None:
        digits = 0 if abs(value) >= 100 else 1 if abs(value) >= 10 else 2
    return f"{value:,.{digits}f}"


def secs(seconds: float) -> str:
    return f"{seconds:,.2f}" if seconds < 100 else f"{seconds:,.1f}"


def ratio(value: float, base: float) -> str:
    if not base:
        return "n/a"
    return f"×{value / base:.2f}" if value / base < 100 else f"×{value / base:,.0f}"


def mmm(stat: Stat, fmt: Callable[[float], str] = ms) -> list[str]:
    """Median, min, max cells."""
    return [fmt(stat.median), fmt(stat.min), fmt(stat.max)]
