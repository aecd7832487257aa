"""The demo's summary: its numbers, the table printed at the end, and ``summary.json``."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tiktok_capi.consumer.telemetry.stats import ConnectorStats

SUMMARY_FILE = "summary.json"


def summarize(
    stats: ConnectorStats,
    *,
    produced: int,
    seconds: float,
    destination: str,
    record_file: Path | None,
    recorded: int | None,
    metrics_url: str | None,
    faults: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """The summary's numbers (also written to ``summary.json``)."""
    return {
        "produced": produced,
        "consumed": stats.consumed,
        "mapped": stats.mapped,
        "delivered": stats.delivered_total,
        "delivered_by_event": dict(sorted(stats.delivered.items())),
        "skipped": stats.skipped_total,
        "skipped_by_reason": dict(sorted(stats.skipped.items())),
        "retried": stats.retried_total,
        "retried_by_tier": {str(k): v for k, v in sorted(stats.retried.items())},
        "dead_lettered": stats.dead_lettered_total,
        "dead_lettered_by_reason": dict(sorted(stats.dead_lettered.items())),
        "requests": stats.requests,
        "seconds": round(seconds, 3),
        "events_per_second": round(stats.consumed / seconds, 1) if seconds > 0 else None,
        "destination": destination,
        "record_file": str(record_file) if record_file is not None else None,
        "recorded_events": recorded,
        "emulator_faults": dict(sorted((faults or {}).items())),
        "metrics_url": metrics_url,
    }


def write_summary(output: Path, summary: Mapping[str, Any]) -> Path:
    """Write ``summary`` as ``output/summary.json``; returns the file's path."""
    path = output / SUMMARY_FILE
    path.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return path


def render_summary(summary: Mapping[str, Any]) -> str:
    """The summary as an aligned table."""
    rows: list[tuple[str, str]] = []

    def row(label: str, value: Any) -> None:
        rows.append((label, f"{value:,}" if isinstance(value, int) else str(value)))

    def breakdown(values: Mapping[str, int]) -> None:
        for name, count in sorted(values.items(), key=lambda kv: (-kv[1], kv[0])):
            row(f"    {name}", count)

    row("events produced", summary["produced"])
    row("events consumed", summary["consumed"])
    row("delivered to TikTok", summary["delivered"])
    breakdown(summary["delivered_by_event"])
    row("skipped by the mapping", summary["skipped"])
    breakdown(summary["skipped_by_reason"])
    row("retried (retry topics)", summary["retried"])
    breakdown({f"tier {k}": v for k, v in summary["retried_by_tier"].items()})
    row("dead-lettered", summary["dead_lettered"])
    breakdown(summary["dead_lettered_by_reason"])
    row("TikTok requests", summary["requests"])
    faults = summary.get("emulator_faults") or {}
    if faults:
        row("faults injected", sum(faults.values()))
        breakdown(faults)
    row("elapsed", f"{summary['seconds']:.2f} s (first record to drained)")
    rate = summary["events_per_second"]
    row("throughput", f"{rate:,.0f} events/s" if rate is not None else "-")
    row("destination", summary["destination"])
    if summary["record_file"] is not None:
        row("TikTok payloads", f"{summary['record_file']} ({summary['recorded_events']:,} events)")
    if summary["metrics_url"] is not None:
        row("metrics", summary["metrics_url"])
    width = max(len(label) for label, _ in rows)
    numbers = [value for _, value in rows if value.replace(",", "").isdigit()]
    nwidth = max((len(value) for value in numbers), default=0)
    lines = ["tiktok-capi demo: summary", "-" * (width + nwidth + 4)]
    for label, value in rows:
        shown = value.rjust(nwidth) if value in numbers else value
        lines.append(f"  {label:<{width}}  {shown}")
    return "\n".join(lines)
