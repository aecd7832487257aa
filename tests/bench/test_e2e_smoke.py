"""The end-to-end benchmark still runs: a small topic all the way to the emulator, all delivered.

Only the plumbing is checked (exit status, every record resolved, figures present); speed is
measured by ``make bench-e2e``, never asserted here.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_benchmark_delivers_everything_and_prints_its_figures() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "bench.e2e", "--events", "1500", "--partitions", "2"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    report = json.loads(completed.stdout[completed.stdout.index("{") :])
    assert report["committed_to_end"] is True
    assert report["events"] == 1500
    assert report["unique_events"] == report["accepted_events"] > 0
    assert report["rejected_requests"] == 0
    for figure in ("records_per_s_steady", "events_per_s_steady", "connector_peak_rss_mib"):
        assert report[figure] > 0


def test_the_hash_cache_benchmark_runs() -> None:
    from bench.hash_cache import measure

    result = measure(records=200, repeat=1)
    for stream in ("repeating", "unique"):
        assert result[stream]["us_per_event_cache_on"]["median"] > 0
        assert 0.0 <= result[stream]["hit_ratio"] <= 1.0
    assert result["repeating"]["hit_ratio"] > result["unique"]["hit_ratio"]
