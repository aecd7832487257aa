"""`tiktok-capi demo`: the pieces (dataset rebasing, progress, summary, --live guard) and one
end-to-end run on a small dataset in a subprocess (broker + emulator + connector)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tiktok_capi.consumer.commands import demo
from tiktok_capi.consumer.telemetry.stats import ConnectorStats
from tiktok_capi.emulator.config import EmulatorConfig
from tiktok_capi.emulator.service import Emulator

ROOT = Path(__file__).resolve().parents[3]
NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def test_rebase_moves_the_newest_event_to_now_keeping_spacing() -> None:
    old = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)
    events = [
        {"timestamp": _iso(old), "sentAt": _iso(old + timedelta(seconds=1))},
        {"timestamp": _iso(old + timedelta(minutes=10))},
        {"type": "identify"},  # no time: unchanged
    ]
    out = demo.rebase_timestamps(events, NOW)
    assert out[1]["timestamp"] == "2026-11-25T09:00:00.000Z"
    assert out[0]["timestamp"] == "2026-11-25T08:50:00.000Z"
    assert out[0]["sentAt"] == "2026-11-25T08:50:01.000Z"
    assert out[2] == {"type": "identify"}
    assert events[0]["timestamp"] == _iso(old)  # inputs untouched


def test_rebase_squeezes_a_long_dataset_into_the_accepted_window() -> None:
    start = datetime(2025, 1, 1, tzinfo=UTC)
    events = [{"timestamp": _iso(start)}, {"timestamp": _iso(start + timedelta(days=30))}]
    out = demo.rebase_timestamps(events, NOW)
    oldest = datetime.fromisoformat(out[0]["timestamp"].replace("Z", "+00:00"))
    assert NOW - oldest == timedelta(days=6)


def _stats(**overrides: object) -> ConnectorStats:
    values: dict[str, object] = {
        "consumed": 300,
        "mapped": 250,
        "skipped": {"identify": 30, "unmapped_event": 20},
        "delivered": {"CompletePayment": 50, "ViewContent": 195},
        "retried": {1: 4},
        "dead_lettered": {"invalid_event": 5},
        "requests": 7,
    }
    values.update(overrides)
    return ConnectorStats(**values)  # type: ignore[arg-type]


def test_summary_numbers_and_table() -> None:
    summary = demo.summarize(
        _stats(),
        produced=300,
        seconds=2.0,
        destination="emulator",
        record_file=Path("demo-output/tiktok-events.jsonl"),
        recorded=245,
        metrics_url=None,
    )
    assert summary["delivered"] == 245
    assert summary["skipped"] == 50
    assert summary["events_per_second"] == 150.0
    table = demo.render_summary(summary)
    lines = table.splitlines()
    assert lines[0] == "tiktok-capi demo: summary"
    assert any(line.split() == ["delivered", "to", "TikTok", "245"] for line in lines)
    assert any(line.split() == ["ViewContent", "195"] for line in lines)
    assert any(line.split() == ["identify", "30"] for line in lines)
    assert any(line.split() == ["tier", "1", "4"] for line in lines)
    assert "150 events/s" in table
    assert "demo-output/tiktok-events.jsonl (245 events)" in table


def test_progress_prints_periodic_lines_when_not_a_terminal() -> None:
    stream = io.StringIO()
    progress = demo.Progress(stream, total=300, interval_s=2.0)
    progress.update(_stats(consumed=10), 0.5)
    progress.update(_stats(consumed=20), 1.0)  # too soon: skipped
    progress.update(_stats(consumed=300), 2.6)
    progress.finish()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    assert "10/300 consumed" in lines[0] and "300/300 consumed" in lines[1]
    assert "\r" not in stream.getvalue()


def test_progress_rewrites_one_line_on_a_terminal() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Tty()
    progress = demo.Progress(stream, total=300)
    for consumed in (10, 20, 30):
        progress.update(_stats(consumed=consumed), consumed / 100)
    progress.finish()
    text = stream.getvalue()
    assert text.count("\r") == 3 and text.count("\n") == 1
    assert "[" + "#" * 2 + "." * 22 + "] 30/300" in text


def _cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tiktok_capi.consumer", "demo", *args],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=cwd,
        env=env,
        check=False,
    )


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "TIKTOK_", "KAFKA_"))}
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


def test_live_without_test_event_code_is_refused(tmp_path: Path) -> None:
    env = _env(TIKTOK_ACCESS_TOKEN="tok-live-secret-123", TIKTOK_PIXEL_CODE="CPIXEL")
    result = _cli("--live", "--output", str(tmp_path / "out"), env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert "TIKTOK_TEST_EVENT_CODE" in result.stderr
    assert "test mode" in result.stderr
    assert "tok-live-secret-123" not in result.stderr + result.stdout
    assert not (tmp_path / "out").exists()  # refused before starting anything


@pytest.mark.integration
def test_demo_runs_end_to_end(tmp_path: Path) -> None:
    output = tmp_path / "out"
    # --faults: the emulator throttles and fails some requests; nothing may be lost or doubled.
    result = _cli(
        "--events", "300", "--faults", "--output", str(output), env=_env(), cwd=tmp_path
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert "tiktok-capi demo: summary" in result.stdout
    summary = json.loads((output / "summary.json").read_text())
    assert summary["produced"] == 300
    assert summary["consumed"] >= 300
    first_pass = summary["delivered"] + summary["skipped"] + summary["dead_lettered"]
    # Every produced record is accounted for: delivered, skipped or dead-lettered, or it went
    # through a retry tier first (and was consumed again from there).
    assert first_pass + summary["retried"] >= 300
    assert summary["consumed"] == 300 + summary["retried"]
    assert summary["delivered"] == sum(summary["delivered_by_event"].values())
    assert summary["skipped"] == sum(summary["skipped_by_reason"].values())
    assert summary["delivered"] > 0 and summary["requests"] > 0
    recorded = (output / "tiktok-events.jsonl").read_text().splitlines()
    assert len(recorded) == summary["recorded_events"] == summary["delivered"]
    assert len({json.loads(line)["event_id"] for line in recorded}) == len(recorded)
    # The connector's log: start-up, assignment and totals (it was empty after a clean run).
    entries = [json.loads(line) for line in (output / "demo.log").read_text().splitlines()]
    messages = [str(e["message"]) for e in entries]
    assert any(m.startswith("consuming cdp-events") for m in messages), messages
    [totals] = [e for e in entries if str(e["message"]).startswith("totals")]
    assert totals["consumed"] == summary["consumed"]


@contextlib.contextmanager
def _demo_until(
    prefix: str, args: list[str], cwd: Path
) -> Iterator[tuple[subprocess.Popen[str], list[str]]]:
    """`demo ARGS` in a child process, its output read up to a line starting with ``prefix``.

    Yields the process and the lines read; a process still running afterwards is killed.
    """
    process = subprocess.Popen(
        [sys.executable, "-m", "tiktok_capi.consumer", "demo", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        env=_env(),
    )
    assert process.stdout is not None
    seen: list[str] = []
    try:
        for line in process.stdout:
            seen.append(line)
            if line.startswith(prefix):
                break
        yield process, seen
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


@pytest.mark.integration
def test_demo_stops_what_it_started_on_sigterm(tmp_path: Path) -> None:
    args = ["--output", str(tmp_path / "out")]
    with _demo_until("Running the connector", args, tmp_path) as (process, seen):
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, "".join(seen) + stderr[-2000:]
    assert "interrupted" in stderr
    broker = re.search(r"Broker on 127\.0\.0\.1:(\d+);", "".join(seen))
    assert broker is not None
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", int(broker.group(1))), timeout=1).close()


@pytest.mark.integration
def test_live_mode_sends_in_test_mode(tmp_path: Path) -> None:
    """--live against a stand-in for TikTok on loopback: every event carries the test code."""
    token = "tok-live-demo-7f3a9c2e"
    with Emulator(EmulatorConfig(token=token, pixel_code="CLIVEPIXEL")) as tiktok:
        env = _env(
            TIKTOK_ACCESS_TOKEN=token,
            TIKTOK_PIXEL_CODE="CLIVEPIXEL",
            TIKTOK_TEST_EVENT_CODE="TEST12345",
            TIKTOK_API_URL=tiktok.base_url,
        )
        output = tmp_path / "out"
        result = _cli("--live", "--events", "120", "--output", str(output), env=env, cwd=tmp_path)
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
        stats = tiktok.stats()
    summary = json.loads((output / "summary.json").read_text())
    assert summary["destination"] == "tiktok (test mode)"
    assert summary["record_file"] is None
    assert stats["accepted_events"] == summary["delivered"] > 0
    assert stats["test_events"] == stats["accepted_events"]
    assert token not in result.stdout + result.stderr + (output / "demo.log").read_text()


@pytest.mark.integration
def test_keep_serves_the_run_metrics_until_ctrl_c(tmp_path: Path) -> None:
    args = ["--events", "200", "--keep", "--output", str(tmp_path / "out")]
    with _demo_until("Keeping", args, tmp_path) as (process, seen):
        url = re.search(r"(http://127\.0\.0\.1:\d+/metrics)", "".join(seen))
        assert url is not None, "".join(seen)
        metrics = httpx.get(url.group(1), timeout=10).text
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr[-2000:]
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    delivered = sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("tiktok_capi_events_delivered_total{")
    )
    assert delivered == summary["delivered"] > 0
