"""Figures as the suite reports them: the median of several runs, with the range and every run.

A figure is a plain dict so it goes to ``results.json`` as it is::

    {"median": 41200.0, "min": 40100.0, "max": 42900.0, "runs": [41200.0, 40100.0, 42900.0],
     "unit": "records/s"}

A ratio of two figures measured in the same suite run (``ratio``) is a figure too (unit
``"x"``): its median is the ratio of the medians, its range that of the run-by-run ratios when
both figures have the same number of runs (they were measured in turn), else of the extremes.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["Figure", "figure", "median", "ratio"]

Figure = dict[str, Any]


def _round(value: float) -> float:
    if value == 0 or abs(value) >= 1000:
        return round(value)
    if abs(value) >= 10:
        return round(value, 1)
    return round(value, 3)


def figure(values: Iterable[float | None], unit: str) -> Figure | None:
    """Median, range and runs of ``values`` (None entries, runs that failed, are left out)."""
    runs = [float(v) for v in values if v is not None]
    if not runs:
        return None
    return {
        "median": _round(statistics.median(runs)),
        "min": _round(min(runs)),
        "max": _round(max(runs)),
        "runs": [_round(v) for v in runs],
        "unit": unit,
    }


def median(fig: Figure | None) -> float | None:
    """The median of a figure, None when it is missing."""
    return None if fig is None else float(fig["median"])


def ratio(top: Figure | None, bottom: Figure | None) -> Figure | None:
    """``top / bottom`` (see the module's docstring); None when either is missing or zero."""
    if not top or not bottom or not bottom["median"]:
        return None
    a: Sequence[float] = top["runs"]
    b: Sequence[float] = bottom["runs"]
    if len(a) == len(b) and all(b):
        pairs = [x / y for x, y in zip(a, b, strict=True)]
        low, high = min(pairs), max(pairs)
    elif min(b) and max(b):
        low, high = min(a) / max(b), max(a) / min(b)
    else:
        low = high = top["median"] / bottom["median"]
    return {
        "median": round(top["median"] / bottom["median"], 3),
        "min": round(low, 3),
        "max": round(high, 3),
        "unit": "x",
    }
