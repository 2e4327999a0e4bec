"""Timing helpers the bench scripts share (each is run as `python bench/NAME.py`, which puts
bench/ on sys.path). Timings stay in bench/: tests never assert on wall time."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any


def best_of(runs: int, func: Callable[[], Any]) -> float:
    """The fastest of `runs` calls of `func`, in seconds."""
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        func()
        times.append(time.perf_counter() - t0)
    return min(times)


def median_ms(func: Callable[[], Any], n: int = 5) -> float:
    """The median of `n` calls of `func`, in milliseconds."""
    times = []
    for _ in range(n):
        start = time.perf_counter()
        func()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)
