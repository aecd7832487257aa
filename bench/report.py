"""The suite's outputs: the printed table, ``results.json`` and the cost-curve plot.

Table lines are collected as the scenarios run (:class:`Table`); each is one figure of one case
(median, range over the runs, unit) and, when it matters, its ratio to a reference measured in
the same suite run. The same lines go to ``results.json`` under ``"table"``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.figures import Figure

__all__ = ["Table", "plot_curves", "write_json"]


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


class Table:
    """Lines of the printed table, in the order the scenarios add them."""

    def __init__(self) -> None:
        self.lines: list[dict[str, Any]] = []

    def add(
        self,
        scenario: str,
        case: str,
        metric: str,
        fig: Figure | None,
        ratio: Figure | None = None,
        ratio_of: str = "",
    ) -> None:
        """One line; ``ratio`` is ``fig`` over the reference named by ``ratio_of``."""
        self.lines.append(
            {
                "scenario": scenario,
                "case": case,
                "metric": metric,
                "median": fig["median"] if fig else None,
                "min": fig["min"] if fig else None,
                "max": fig["max"] if fig else None,
                "runs": len(fig["runs"]) if fig and "runs" in fig else None,
                "unit": fig["unit"] if fig else "",
                "ratio": ratio["median"] if ratio else None,
                "ratio_range": [ratio["min"], ratio["max"]] if ratio else None,
                "ratio_of": ratio_of if ratio else "",
            }
        )

    def render(self, header: str, scenarios: Sequence[str] | None = None) -> str:
        """The table as text (all lines, or those of ``scenarios``)."""
        rows = [line for line in self.lines if scenarios is None or line["scenario"] in scenarios]
        cells = [("scenario", "case", "figure", "median", "range", "unit", "runs", "ratio")]
        for line in rows:
            spread = (
                f"{_number(line['min'])}-{_number(line['max'])}"
                if line["median"] is not None
                else ""
            )
            ratio = ""
            if line["ratio"] is not None:
                low, high = line["ratio_range"]
                ratio = f"{line['ratio']:.2f}x ({low:.2f}-{high:.2f}) {line['ratio_of']}"
            cells.append(
                (
                    line["scenario"],
                    line["case"],
                    line["metric"],
                    _number(line["median"]),
                    spread,
                    line["unit"],
                    "" if line["runs"] is None else str(line["runs"]),
                    ratio,
                )
            )
        widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]) - 1)]
        out = [header]
        for row in cells:
            left = "  ".join(
                cell.rjust(w) if i in (3, 4, 6) else cell.ljust(w)
                for i, (cell, w) in enumerate(zip(row, widths, strict=False))
            )
            out.append(f"{left}  {row[-1]}".rstrip())
        return "\n".join(out)


def write_json(results: dict[str, Any], path: Path) -> None:
    """Write ``results`` to ``path`` atomically (a crash never leaves half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def plot_curves(rows: Sequence[dict[str, Any]], path: Path, title: str) -> str | None:
    """Records/s and CPU per record against in-flight requests, one line per batch size.

    Returns None when the plot was written, else why not (matplotlib missing: the ``bench``
    extra, ``pip install -e '.[bench]'``).
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed (pip install -e '.[bench]')"
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    flights = sorted({row["in_flight"] for row in rows})
    figure, (rate_axis, cpu_axis) = plt.subplots(1, 2, figsize=(12, 4.8))
    for batch in sorted({row["batch_size"] for row in rows}):
        cells = sorted((r for r in rows if r["batch_size"] == batch), key=lambda r: r["in_flight"])
        for axis, key in ((rate_axis, "records_per_s"), (cpu_axis, "cpu_us_per_record")):
            points = [(r["in_flight"], r[key]) for r in cells if r.get(key)]
            if not points:
                continue
            xs = [x for x, _ in points]
            ys = [f["median"] for _, f in points]
            low = [f["median"] - f["min"] for _, f in points]
            high = [f["max"] - f["median"] for _, f in points]
            axis.errorbar(
                xs, ys, yerr=[low, high], marker="o", capsize=3, label=f"BATCH_SIZE={batch}"
            )
    for axis, label in (
        (rate_axis, "records/s (end to end)"),
        (cpu_axis, "connector CPU µs per record"),
    ):
        axis.set_xscale("log", base=2)
        axis.set_xticks(flights, [str(f) for f in flights])
        axis.xaxis.set_minor_formatter(NullFormatter())
        axis.set_yscale("log")
        axis.yaxis.set_major_formatter(ScalarFormatter())
        axis.set_xlabel("MAX_IN_FLIGHT_REQUESTS")
        axis.set_ylabel(label)
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize="small")
    figure.suptitle(title)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return None
