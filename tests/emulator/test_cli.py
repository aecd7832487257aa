"""`tiktok-capi emulate`: prints its URL, serves, stops cleanly on SIGTERM/SIGINT."""

from __future__ import annotations

import io
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import orjson
import pytest

from tests.emulator.payloads import track_request, web_event
from tests.fixtures.waiting import wait_for
from tiktok_capi.consumer.cli import main
from tiktok_capi.emulator.cli import serve
from tiktok_capi.emulator.config import EmulatorConfig
from tiktok_capi.emulator.contract import TRACK_PATH

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_emulate_prints_its_url_and_stops_on_a_signal(
    tmp_path: Path, signum: signal.Signals
) -> None:
    record = tmp_path / "events.jsonl"
    command = [
        sys.executable,
        "-m",
        "consumer",
        "emulate",
        "--port",
        "0",
        "--token",
        "cli-secret-token",
        "--pixel-code",
        "CLIPIXEL",
        "--record",
        str(record),
    ]
    process = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), url
        body = track_request([web_event(1)], event_source_id="CLIPIXEL")
        with httpx.Client(timeout=5, verify=False) as http:
            answer = http.post(
                url + TRACK_PATH,
                content=orjson.dumps(body),
                headers={"Access-Token": "cli-secret-token"},
            )
            assert answer.json()["code"] == 0
            assert http.get(url + "/_emulator/stats").json()["accepted_events"] == 1
        process.send_signal(signum)
        out, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert "1 events accepted" in err
    assert "cli-secret-token" not in out + err
    lines = record.read_bytes().splitlines()
    assert [orjson.loads(line)["event_id"] for line in lines] == ["evt-1"]


def test_serve_prints_the_url_first_and_stops_when_asked() -> None:
    out, err = io.StringIO(), io.StringIO()
    stop = threading.Event()
    status: list[int] = []
    runner = threading.Thread(
        target=lambda: status.append(serve(EmulatorConfig(), out=out, err=err, stop=stop))
    )
    runner.start()
    wait_for(out.getvalue, timeout=10, interval=0.005, what="the emulator's URL")
    url = out.getvalue().splitlines()[0]
    assert httpx.get(url + "/_emulator/health", timeout=5).json() == {"status": "ok"}
    stop.set()
    runner.join(10)
    assert status == [0]
    assert "emulator stopped: 0 requests" in err.getvalue()
    assert "test-token" not in out.getvalue() + err.getvalue()


def test_a_busy_port_is_a_clear_error() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        err = io.StringIO()
        status = serve(
            EmulatorConfig(port=port), out=io.StringIO(), err=err, stop=threading.Event()
        )
    assert status == 1 and f"cannot start on 127.0.0.1:{port}" in err.getvalue()


def test_an_unwritable_record_file_is_a_clear_error(tmp_path: Path) -> None:
    err = io.StringIO()
    config = EmulatorConfig(record_path=str(tmp_path / "missing-dir" / "events.jsonl"))
    status = serve(config, out=io.StringIO(), err=err, stop=threading.Event())
    assert status == 1 and "missing-dir" in err.getvalue()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--drop-rate", "2"], "drop_rate must be a number between 0 and 1"),
        (["--keep-events", "-1"], "max_events_in_memory must be >= 0"),
        (["--port", "70000"], "port must be between 0 and 65535"),
    ],
)
def test_bad_options_exit_2(
    capsys: pytest.CaptureFixture[str], options: list[str], message: str
) -> None:
    assert main(["emulate", *options]) == 2
    assert message in capsys.readouterr().err


def test_help_lists_the_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["emulate", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for option in (
        "--port",
        "--token",
        "--pixel-code",
        "--record",
        "--throttle-rate",
        "--qps-limit",
    ):
        assert option in text
