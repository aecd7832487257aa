"""The fault harness itself: waiting, the accounting invariant, the leak scan, the TCP proxy.

These run in milliseconds (the proxy over loopback sockets): a fault test is only as good as
the checks it relies on.
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator

import pytest

from tests.fixtures.accounting import (
    ANY_REASON,
    DeadLetter,
    Expectation,
    Observation,
    Produced,
    expect_dead_letter,
    reconcile,
)
from tests.fixtures.leaks import find_leaks, pii_needles
from tests.fixtures.processes import MARKER_ENV, alive, cmdline, marked_processes
from tests.fixtures.proxy import TcpProxy
from tests.fixtures.waiting import WaitTimeout, wait_for, watch

SOURCE = "src"
TIER = "src.tiktok.retry.1"


# -- waiting -----------------------------------------------------------------------------------
def test_wait_for_returns_the_first_truthy_value() -> None:
    calls = iter([0, None, "", 7])
    assert wait_for(lambda: next(calls), timeout=5, interval=0, what="seven") == 7


def test_wait_for_names_what_it_waited_for_and_the_last_value() -> None:
    with pytest.raises(WaitTimeout, match=r"waiting for the moon; last value: 0; state: 'dark'"):
        wait_for(lambda: 0, timeout=0.05, interval=0.01, what="the moon", describe=lambda: "dark")


def test_wait_for_lets_other_exceptions_through_and_ignores_the_named_ones() -> None:
    with pytest.raises(KeyError):
        wait_for(lambda: {}["x"], timeout=1, what="x")
    attempts = iter([ConnectionError(), ConnectionError(), "up"])

    def flaky() -> str:
        value = next(attempts)
        if isinstance(value, Exception):
            raise value
        return value

    assert wait_for(flaky, timeout=5, interval=0, what="up", ignore=(ConnectionError,)) == "up"


def test_watch_samples_for_the_whole_duration() -> None:
    seen = watch(lambda: 1, duration=0.1, interval=0.02)
    assert len(seen) >= 3 and set(seen) == {1}


# -- the accounting invariant ------------------------------------------------------------------
def _deliver(event_id: str, name: str = "ViewContent") -> Expectation:
    return Expectation(delivered_as=(event_id, name))


def _letter(offset: int, reason: str | None = "decode_error", partition: int = 0) -> DeadLetter:
    return DeadLetter(SOURCE, partition, offset, reason, {"reason": str(reason)})


def _seen(**changes: object) -> Observation:
    fields: dict[str, object] = {
        "deliveries": [("e0", "ViewContent"), ("e1", "ViewContent")],
        "dead_letters": [_letter(3)],
        "retried": 0,
        "committed": {SOURCE: {0: 4}, TIER: {}},
        "ends": {SOURCE: {0: 4, 1: 0}, TIER: {0: 0}},
    }
    fields.update(changes)
    return Observation(**fields)  # type: ignore[arg-type]


PRODUCED = [
    Produced(0, 0, _deliver("e0")),
    Produced(0, 1, _deliver("e1")),
    Produced(0, 2, Expectation(skipped="unmapped_event")),
    Produced(0, 3, expect_dead_letter("decode_error"), "garbage"),
]


def test_a_clean_run_satisfies_the_invariant() -> None:
    report = reconcile(SOURCE, PRODUCED, _seen())
    report.assert_ok()
    assert report.settled
    assert (report.records, report.delivered, report.skipped, report.dead_lettered) == (4, 2, 1, 1)
    assert report.dead_letter_reasons == {"decode_error": 1} and report.lost == 0


def test_re_deliveries_under_the_same_event_id_are_duplicates_not_violations() -> None:
    deliveries = [("e0", "ViewContent")] * 3 + [("e1", "ViewContent")]
    report = reconcile(SOURCE, PRODUCED, _seen(deliveries=deliveries))
    assert report.ok and report.duplicates == 2


@pytest.mark.parametrize(
    ("changes", "violation"),
    [
        ({"deliveries": [("e0", "ViewContent")]}, "lost"),
        ({"dead_letters": []}, "lost"),
        ({"deliveries": [("e0", "ViewContent"), ("e1", "Purchase")]}, "another event name"),
        ({"deliveries": [("e0", "ViewContent"), ("e1", "ViewContent"), ("x", "ViewContent")]},
         "never produced"),
        ({"deliveries": [("e0", "ViewContent"), ("e1", "ViewContent"), (None, "ViewContent")]},
         "never produced"),
        ({"dead_letters": [_letter(3), _letter(1, "retries_exhausted")]}, "dead-lettered (retr"),
        ({"dead_letters": [_letter(3), _letter(0, "invalid_event")]}, "delivered and dead-let"),
        ({"dead_letters": [_letter(3, reason=None)]}, "without reason"),
        ({"dead_letters": [_letter(3), _letter(9)]}, "dead letter of no produced record"),
        ({"committed": {SOURCE: {0: 3}}}, "not committed to the end"),
        ({"ends": {SOURCE: {0: 4}, TIER: {0: 2}}}, "not committed to the end"),
        ({"processes_left": [4242]}, "process left running"),
    ],
)  # fmt: skip
def test_every_breach_is_named(changes: dict[str, object], violation: str) -> None:
    report = reconcile(SOURCE, PRODUCED, _seen(**changes))
    assert not report.ok
    assert any(violation in line for line in report.violations), report.violations
    with pytest.raises(AssertionError, match="accounting invariant violated"):
        report.assert_ok()


def test_a_record_may_end_in_any_of_the_places_its_expectation_allows() -> None:
    either = Expectation(delivered_as=("e9", "Purchase"), dead_letter_reasons=frozenset({"x"}))
    anywhere = Expectation(dead_letter_reasons=frozenset({ANY_REASON}))
    produced = [Produced(1, 0, either), Produced(1, 1, anywhere)]
    seen = _seen(
        deliveries=[],
        dead_letters=[_letter(0, "x", partition=1), _letter(1, "too_large", partition=1)],
        committed={SOURCE: {1: 2}},
        ends={SOURCE: {1: 2}},
    )
    report = reconcile(SOURCE, produced, seen)
    report.assert_ok()
    assert report.dead_lettered == 2


def test_violations_of_one_kind_are_listed_then_counted() -> None:
    produced = [Produced(0, n, _deliver(f"m{n}")) for n in range(20)]
    report = reconcile(SOURCE, produced, _seen(deliveries=[], dead_letters=[], ends={}))
    assert report.lost == 20
    [line] = report.violations
    assert line.startswith("lost x20:") and "(+12 more)" in line


# -- leaks -------------------------------------------------------------------------------------
EVENT = {
    "userId": "user-10042",
    "context": {
        "traits": {
            "email": "  Jane.Kowalski@Example.com ",
            "phone": "+1 (415) 555-0123",
            "first_name": "Jane",
            "last_name": "Kowalski",
            "address": {"postal_code": "SW1A 1AA", "zip_code": "94107"},
        }
    },
}


def test_needles_are_the_raw_pii_of_the_events_and_the_token() -> None:
    needles = pii_needles([EVENT], token="tok-secret")
    assert needles == {
        "user-10042": "external id",
        "Jane.Kowalski@Example.com": "email",
        "jane.kowalski@example.com": "email",
        "+1 (415) 555-0123": "phone",
        "14155550123": "phone",
        "Kowalski": "name",
        "SW1A 1AA": "postal code",
        "tok-secret": "access token",
    }  # "Jane" (too short to tell from text) and "94107" (an offset lookalike) are left out


def test_leaks_are_found_with_the_value_masked() -> None:
    needles = pii_needles([EVENT], token="tok-secret")
    text = 'request {"user":"user-10042"} sent with tok-secret, digits 14155550123.'
    leaks = find_leaks({"log": text, "clean": "nothing 0123 here"}, needles)
    assert {(leak.where, leak.kind) for leak in leaks} == {
        ("log", "external id"),
        ("log", "access token"),
        ("log", "phone"),
    }
    assert all("tok-secret" not in leak.excerpt for leak in leaks)


def test_leaks_next_to_megabyte_runs_are_found() -> None:
    text = "y" * 3_000_000 + "jane.kowalski@example.com" + "z" * 3_000_000
    [leak] = find_leaks({"record": text}, pii_needles([EVENT]))
    assert leak.kind == "email" and "y<email>z" in leak.excerpt


# -- the TCP proxy -----------------------------------------------------------------------------
@pytest.fixture
def echo_port() -> Iterator[int]:
    """A loopback server that echoes every connection until it closes."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):  # the proxy resets it: that is the point
            while chunk := conn.recv(4096):
                conn.sendall(chunk)

    def accept() -> None:
        server.settimeout(0.05)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    server.close()


def _connect(proxy: TcpProxy) -> socket.socket:
    return socket.create_connection((proxy.host, proxy.port), timeout=2)


def test_the_proxy_forwards_both_ways(echo_port: int) -> None:
    with TcpProxy("127.0.0.1", echo_port) as proxy, _connect(proxy) as conn:
        conn.sendall(b"ping")
        assert conn.recv(10) == b"ping"
        assert proxy.open_connections == 1 and proxy.forwarded_bytes == 8


def test_a_cut_resets_open_and_new_connections_until_restored(echo_port: int) -> None:
    with TcpProxy("127.0.0.1", echo_port) as proxy:
        conn = _connect(proxy)
        conn.sendall(b"a")
        assert conn.recv(1) == b"a"
        assert proxy.cut("reset") == 1
        with pytest.raises(ConnectionResetError):
            conn.sendall(b"b")
            conn.recv(1)
        conn.close()
        with pytest.raises(ConnectionResetError), _connect(proxy) as refused:
            refused.recv(1)  # (the reset may already fail the connect)
        proxy.restore()
        with _connect(proxy) as again:
            again.sendall(b"c")
            assert again.recv(1) == b"c"


def test_a_stall_holds_data_until_resumed(echo_port: int) -> None:
    with TcpProxy("127.0.0.1", echo_port) as proxy, _connect(proxy) as conn:
        proxy.stall()
        conn.sendall(b"held")
        conn.settimeout(0.3)
        with pytest.raises(TimeoutError):
            conn.recv(10)
        assert proxy.open_connections == 1  # open, silent
        proxy.resume()
        conn.settimeout(2)
        assert wait_for(lambda: conn.recv(10), timeout=2, what="the held bytes") == b"held"


def test_closing_with_connections_open_leaves_no_socket_behind(echo_port: int) -> None:
    # pytest turns an "unclosed transport" ResourceWarning of the collector into an error.
    proxy = TcpProxy("127.0.0.1", echo_port).start()
    clients = [_connect(proxy) for _ in range(3)]
    clients[0].sendall(b"x")
    assert clients[0].recv(1) == b"x"
    wait_for(lambda p=proxy: p.open_connections == 3, timeout=2, what="three connections")
    proxy.stall()
    proxy.close()
    for client in clients:
        client.close()
    del proxy
    gc.collect()


# -- processes ---------------------------------------------------------------------------------
def test_marked_processes_finds_descendants_even_once_re_parented() -> None:
    marker = "harness-" + uuid.uuid4().hex  # unique across pytest-xdist workers too
    env = {**os.environ, MARKER_ENV: marker}
    # A parent that starts a grandchild and exits at once: the grandchild belongs to init.
    code = (
        "import subprocess, sys; "
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)'])"
    )
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=10)
    [orphan] = wait_for(lambda: marked_processes(marker), timeout=5, what="the orphan")
    try:
        assert alive(orphan) and "time.sleep(30)" in " ".join(cmdline(orphan))
    finally:
        os.kill(orphan, signal.SIGKILL)
    # Its environment goes unreadable while the kernel tears it down, before it is a zombie:
    # wait for both rather than reading the state in between.
    wait_for(lambda: not marked_processes(marker), timeout=5, what="the orphan to be gone")
    wait_for(lambda: not alive(orphan), timeout=5, what="the orphan to have ended")
