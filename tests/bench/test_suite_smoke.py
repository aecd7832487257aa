"""The benchmark suite still runs: every scenario at tiny sizes, and results.json has its keys.

``python -m bench --quick`` takes about a minute; only the plumbing is checked (every run
succeeded, each section has its figures). Speed is measured by ``make bench``, never asserted.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.integration

_FIGURE_KEYS = {"median", "min", "max", "runs", "unit"}


def _is_figure(value: Any) -> bool:
    return isinstance(value, dict) and value.keys() >= _FIGURE_KEYS and value["median"] > 0


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("bench")
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--quick",
            "--out",
            str(out / "results.json"),
            "--plot",
            str(out / "curves.png"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-12000:]
    assert "scenario" in completed.stdout  # the table's header line
    data: dict[str, Any] = json.loads((out / "results.json").read_text())
    data["_plot_written"] = (out / "curves.png").exists()
    return data


def test_every_scenario_ran_without_error(results: dict[str, Any]) -> None:
    assert set(results["scenarios"]) == {
        "ceiling",
        "e2e",
        "batching",
        "latency",
        "curves",
        "scaling",
        "steady",
        "memory",
    }
    for name, section in results["scenarios"].items():
        assert "error" not in section, (name, section.get("error"))


def test_the_machine_and_the_builds_are_recorded(results: dict[str, Any]) -> None:
    machine = results["machine"]
    assert machine["nproc"] >= 1
    assert machine["cpu_model"]
    assert results["options"]["builds"] == ["pure"]
    assert results["connector_defaults"]["BATCH_SIZE"]
    assert results["dataset"]["topics"]


def test_ceiling_has_every_format_read_by_the_connector(results: dict[str, Any]) -> None:
    rows = results["scenarios"]["ceiling"]["rows"]
    assert {r["format"] for r in rows} == {"bundled_avro", "nested_avro", "json"}
    for row in rows:
        assert _is_figure(row["cpu_us_per_record"])
        assert _is_figure(row["records_per_s_per_core"])
        assert row["same_requests_as_bundled"] is True
        assert row["stand_in"] is None  # every format is the connector's own decoder (issue 11)


def test_end_to_end_reports_rates_cpu_and_overhead(results: dict[str, Any]) -> None:
    (row,) = results["scenarios"]["e2e"]["rows"]
    for key in ("records_per_s", "events_per_s", "cpu_us_per_record", "overhead"):
        assert _is_figure(row[key]) or row[key]["median"] > 0, key
    assert row["runs_failed"] == 0
    run = row["runs"][0]
    assert run["records"] > 0 and run["exit_statuses"] == [0]
    assert run["cpu_us_per_record_by_process"]["connector"] > 0
    by_thread = run["cpu_us_per_record_by_thread"]
    assert set(by_thread) == {"poll_loop", "librdkafka", "other_threads"}
    assert by_thread["poll_loop"] > 0
    assert by_thread["poll_loop"] <= run["cpu_us_per_record_by_process"]["connector"]
    assert _is_figure(row["cpu_us_per_record_by_thread"]["poll_loop"])
    # The overhead divides each run by the ceiling measured around it (a pass before, one
    # after: their mean), on its records.
    assert row["overhead_paired"] is True and run["ceiling_cpu_us_per_record"] > 0
    before, after = run["ceiling_before_after"]
    assert run["ceiling_cpu_us_per_record"] == pytest.approx((before + after) / 2, abs=1e-3)
    paired = run["cpu_us_per_record"] / run["ceiling_cpu_us_per_record"]
    assert row["overhead"]["runs"] == [pytest.approx(paired, rel=1e-2)]


def test_windowed_scenarios_have_their_ratios(results: dict[str, Any]) -> None:
    scenarios = results["scenarios"]
    assert scenarios["batching"]["ratios"]["batched_vs_single.records_per_s"]["median"] > 0
    latency = scenarios["latency"]["rows"]
    assert [r["latency_ms"] for r in latency] == [0.0, 100.0]
    assert latency[1]["vs_zero_latency"]["median"] > 0
    curves = scenarios["curves"]["rows"]
    assert {(r["batch_size"], r["in_flight"]) for r in curves} == {(1, 4), (1000, 4)}
    scaling = scenarios["scaling"]
    assert {(r["consumers"], r["decode_workers"]) for r in scaling["rows"]} == {(1, 0), (2, 0)}
    assert scaling["ratios"]


def test_steady_load_measures_produce_to_receipt(results: dict[str, Any]) -> None:
    steady = results["scenarios"]["steady"]
    assert steady["rate_records_per_s"] > 0
    for quantile in ("p50", "p99", "max"):
        assert _is_figure(steady["latency_s"][quantile]), quantile
    assert _is_figure(steady["produce_ack_s"]["p99"])
    assert steady["row"]["runs"][0]["measured_events"] > 0


def test_memory_covers_backlogs_and_large_records(results: dict[str, Any]) -> None:
    rows = results["scenarios"]["memory"]["rows"]
    assert [r["backlog"] for r in rows] == [20_000, 4]
    assert rows[1]["record_bytes"] >= 200_000
    for row in rows:
        assert _is_figure(row["peak_rss_mib"]["total"])


@pytest.mark.skipif(
    importlib.util.find_spec("matplotlib") is None, reason="the bench extra is not installed"
)
def test_cost_curves_are_plotted(results: dict[str, Any]) -> None:
    assert results["_plot_written"]
    assert results["scenarios"]["curves"]["plot"]


def test_every_table_line_names_its_figure(results: dict[str, Any]) -> None:
    lines = results["table"]
    assert {line["scenario"] for line in lines} == set(results["scenarios"])
    for line in lines:
        assert line["metric"] and line["unit"], line
