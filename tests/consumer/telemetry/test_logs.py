"""telemetry.logs: JSON/text formats, extra fields, lazy formatting, and the redaction net."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from tiktok_capi.consumer.telemetry import logs


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """Configure JSON logs into a buffer; restore the root logger afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    stream = io.StringIO()
    logs.configure("debug", "json", stream=stream)
    yield stream
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_line_has_fields_and_extras(captured: io.StringIO) -> None:
    logging.getLogger("tiktok_capi.consumer.loop.pipeline").info(
        "delivered %d events",
        3,
        extra={"topic": "cdp-events", "partition": 2, "offset": 1234567, "event_id": "e-1"},
    )
    (entry,) = lines(captured)
    assert entry["level"] == "info"
    assert entry["logger"] == "tiktok_capi.consumer.loop.pipeline"
    assert entry["message"] == "delivered 3 events"
    assert entry["topic"] == "cdp-events"
    assert entry["partition"] == 2
    assert entry["offset"] == 1234567
    assert entry["event_id"] == "e-1"
    assert str(entry["ts"]).endswith("Z")


def test_exception_is_one_json_line(captured: io.StringIO) -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logging.getLogger("t").exception("failed")
    (entry,) = lines(captured)
    assert "RuntimeError: boom" in str(entry["exc"])


def test_formatting_is_lazy(captured: io.StringIO) -> None:
    class Expensive:
        calls = 0

        def __str__(self) -> str:
            Expensive.calls += 1
            return "x"

    logging.getLogger("consumer").setLevel(logging.INFO)
    try:
        logging.getLogger("consumer.x").debug("value %s", Expensive())
    finally:
        logging.getLogger("consumer").setLevel(logging.NOTSET)
    assert Expensive.calls == 0
    assert captured.getvalue() == ""


def test_unserialisable_extra_is_stringified(captured: io.StringIO) -> None:
    logging.getLogger("t").info("x", extra={"thing": object(), "when": 1.5})
    (entry,) = lines(captured)
    assert str(entry["thing"]).startswith("<object")
    assert entry["when"] == 1.5


def test_registered_secret_is_masked(captured: io.StringIO) -> None:
    token = "tok_9f8e7d6c5b4a39281706"
    logs.register_secret(token)
    logging.getLogger("t").warning("header Access-Token: %s", token, extra={"t": token})
    text = captured.getvalue()
    assert token not in text
    assert "[redacted]" in text


def test_secret_in_traceback_is_masked(captured: io.StringIO) -> None:
    token = "tok_traceback_secret_42"
    logs.register_secret(token)
    try:
        raise ValueError(f"bad token {token}")
    except ValueError:
        logging.getLogger("t").exception("failed")
    assert token not in captured.getvalue()


@pytest.mark.parametrize(
    "pii",
    [
        "jane.doe+shop@example.co.uk",
        "JOHN_SMITH@Example.COM",
        "+1 (555) 123-4567",
        "+44 20 7946 0958",
        "+4915112345678",
        "(555) 123-4567",
        "555-123-4567",
        "555.123.4567",
    ],
)
def test_pii_looking_strings_are_masked(captured: io.StringIO, pii: str) -> None:
    logging.getLogger("t").info("user said %s in a message", pii, extra={"field": pii})
    text = captured.getvalue()
    assert pii not in text
    (entry,) = lines(captured)
    assert entry["message"] in ("user said [email] in a message", "user said [phone] in a message")


@pytest.mark.parametrize(
    "benign",
    [
        "offset 123456789012",
        "2026-11-25T08:31:50.123Z",
        "127.0.0.1:9092",
        "550e8400-e29b-41d4-a716-446655440000",
        "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8",
        "ts 1732523400.123",
        "version 1.45.2",
    ],
)
def test_ordinary_values_are_not_masked(benign: str) -> None:
    assert logs.redact(benign) == benign


def test_text_format_is_human_readable() -> None:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    stream = io.StringIO()
    try:
        logs.configure("info", "text", stream=stream)
        logging.getLogger("tiktok_capi.consumer.offsets.commit").info(
            "committed", extra={"partition": 1}
        )
    finally:
        for handler in list(root.handlers):
            if handler not in handlers:
                root.removeHandler(handler)
        root.setLevel(level)
    line = stream.getvalue().strip()
    assert "INFO" in line and "tiktok_capi.consumer.offsets.commit" in line and "committed" in line
    assert "partition=1" in line
    assert not line.startswith("{")


def test_auto_is_json_when_not_a_terminal(captured: io.StringIO) -> None:
    stream = io.StringIO()  # not a TTY
    logs.configure("info", "auto", stream=stream)
    logging.getLogger("t").info("hello")
    assert json.loads(stream.getvalue())["message"] == "hello"


def test_auto_is_text_on_a_terminal(captured: io.StringIO) -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Tty()
    logs.configure("info", "auto", stream=stream)
    logging.getLogger("t").info("hello")
    assert not stream.getvalue().startswith("{")


def test_configure_twice_keeps_one_handler(captured: io.StringIO) -> None:
    logs.configure("info", "json", stream=captured)
    logs.configure("info", "json", stream=captured)
    logging.getLogger("t").info("once")
    assert len(lines(captured)) == 1


@pytest.mark.parametrize(("level", "fmt"), [("verbose", "json"), ("info", "xml")])
def test_bad_level_or_format_is_an_error(level: str, fmt: str) -> None:
    with pytest.raises(ValueError, match="unknown log"):
        logs.configure(level, fmt, stream=io.StringIO())


def test_noisy_http_loggers_are_quiet(captured: io.StringIO) -> None:
    logging.getLogger("httpx").info("HTTP Request: POST ...")
    assert captured.getvalue() == ""


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _filtered(interval: float = 30.0) -> tuple[logs.RepeatFilter, FakeClock, io.StringIO]:
    clock = FakeClock()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    repeat = logs.RepeatFilter(interval, clock=clock)
    handler.addFilter(repeat)
    logger = logging.getLogger("librdkafka.consumer")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    return repeat, clock, stream


@pytest.fixture
def kafka_logger() -> Iterator[None]:
    logger = logging.getLogger("librdkafka.consumer")
    yield
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    logger.propagate = True
    logger.setLevel(logging.NOTSET)


def _fail(ms: int) -> None:
    logging.getLogger("librdkafka.consumer").error(
        "%s [%s] %s",
        "FAIL",
        "rdkafka#consumer-1",
        f"127.0.0.1:1/bootstrap: Connect to ipv4#127.0.0.1:1 failed: Connection refused "
        f"(after {ms}ms in state CONNECT)",
    )


@pytest.mark.usefixtures("kafka_logger")
def test_repeated_client_errors_are_logged_once_then_summarised() -> None:
    """A dead broker: one line each 50 ms per client became ~40 lines/s."""
    _, clock, stream = _filtered(30.0)
    for n in range(200):  # 10 s of reconnect attempts
        _fail(n % 3)
        clock.now += 0.05
    assert len(lines(stream)) == 1
    clock.now += 25.0
    _fail(0)
    [first, summary] = lines(stream)
    assert "Connection refused" in str(first["message"]) and "repeated" not in first
    assert summary["repeated"] == 199
    assert str(summary["message"]).endswith("(and 199 more like it in the last 35s)")
    _fail(1)  # a new window: held back again
    assert len(lines(stream)) == 2


@pytest.mark.usefixtures("kafka_logger")
def test_other_kinds_levels_and_loggers_pass() -> None:
    repeat, _, stream = _filtered(30.0)
    logger = logging.getLogger("librdkafka.consumer")
    _fail(0)
    logger.error("%s", "GroupCoordinator: Disconnected")  # another kind
    logger.info("%s", "Connection refused")  # below WARNING: always
    logger.info("%s", "Connection refused")
    assert len(lines(stream)) == 4
    record = logging.LogRecord("tiktok_capi.consumer.loop", logging.ERROR, "", 0, "x", None, None)
    assert repeat.filter(record) and repeat.filter(record)


@pytest.mark.usefixtures("kafka_logger")
def test_what_is_held_back_is_reported_at_exit() -> None:
    repeat, clock, stream = _filtered(30.0)
    for _ in range(5):
        _fail(0)
        clock.now += 1
    repeat.flush()
    [_, summary] = lines(stream)
    assert summary["repeated"] == 4 and "Connection refused" in str(summary["message"])
    repeat.flush()
    assert len(lines(stream)) == 2  # nothing more held


def test_configure_installs_the_repeat_filter(captured: io.StringIO) -> None:
    for _ in range(20):
        logging.getLogger("librdkafka.producer").warning("%s", "Disconnected (after 1ms)")
    assert len(lines(captured)) == 1
