"""A test run ended by SIGTERM stops the brokers its fixtures started (fixtures/sigterm.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.fixtures.waiting import wait_for

ROOT = Path(__file__).resolve().parent.parent

# A test holding an embedded broker (as the broker fixture does) until it is killed.
HELD = """
import os, time
from pathlib import Path
from tiktok_capi.consumer.demo.broker import EmbeddedBroker

def test_holds_a_broker():
    with EmbeddedBroker() as broker:
        Path(os.environ["BROKER_PID_FILE"]).write_text(str(broker._process.pid))
        time.sleep(120)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie waiting for its (dead) parent counts as gone
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_sigterm_tears_the_fixtures_down(tmp_path: Path) -> None:
    (tmp_path / "test_held.py").write_text(HELD)
    pid_file = tmp_path / "broker.pid"
    run = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", "-p", "tests.fixtures.sigterm",
         "-p", "no:cacheprovider", str(tmp_path / "test_held.py")],
        cwd=ROOT,
        env={**os.environ, "BROKER_PID_FILE": str(pid_file)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for(pid_file.exists, timeout=60, what="the broker to start")
        broker = int(pid_file.read_text())
        run.send_signal(signal.SIGTERM)
        run.wait(30)
        wait_for(lambda: not _alive(broker), timeout=15, what="the broker to stop")
    finally:
        run.kill()
        run.wait()
        if pid_file.exists() and _alive(pid := int(pid_file.read_text())):
            os.kill(pid, signal.SIGKILL)
