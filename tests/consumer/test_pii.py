"""No raw PII and no token leave the process through logs, metric labels or OTLP exports.

PII-rich events (e-mails, phones, names, street addresses, postal codes, in traits, context
and properties; identify calls; unmapped events; an undecodable record carrying a name) go
through the whole pipeline — embedded broker, `tiktok-capi run` in a subprocess with DEBUG
JSON logs, the TikTok emulator — and every log line and the Prometheus `/metrics` text are
searched for every raw value (case-insensitive) and for the access token, as are the OTLP
metrics and spans exported to a collector on loopback.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fixtures.otlp import OtlpCollector
from tiktok_capi.consumer.decode.codec import encode_event
from tiktok_capi.consumer.demo.broker import free_port
from tiktok_capi.emulator import Emulator, EmulatorConfig

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "tok-PII-9c1f4e7a2b8d6e3f0a5c"
PIXEL = "CPIITESTPIXEL0000001"

# Raw values that must never appear; distinctive so a chance match is impossible.
PII = {
    "email": "Zebulon.Quixote+capi@Example-Shop.test",
    "email2": "marisol.verhoeven@mailbox.test",
    "phone": "+1 (415) 555-0132",
    "phone_e164": "+14155550132",
    "phone_digits": "4155550132",
    "phone2": "+44 7700 900461",
    "phone2_e164": "+447700900461",
    "first_name": "Zebulon",
    "last_name": "Quixotically",
    "first_name2": "Marisol",
    "last_name2": "Verhoevenstraat",
    "street": "742 Evergreen Terrace",
    "street2": "Flat 3, 17 Pennywhistle Lane",
    "city": "Springfieldia",
    "postal_code": "K1A0B1",
    "birthday": "1987-03-14",
}


def _traits(n: int) -> dict[str, Any]:
    first = (n % 2) == 0
    return {
        "email": PII["email"] if first else PII["email2"],
        "phone": PII["phone"] if first else PII["phone2"],
        "first_name": PII["first_name"] if first else PII["first_name2"],
        "last_name": PII["last_name"] if first else PII["last_name2"],
        "name": f"{PII['first_name']} {PII['last_name']}",
        "birthday": PII["birthday"],
        "address": {
            "street": PII["street"] if first else PII["street2"],
            "city": PII["city"],
            "postal_code": PII["postal_code"],
            "country": "US",
        },
    }


def _events(now: datetime) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    kinds = [
        ("track", "Order Completed"),
        ("track", "Product Viewed"),
        ("track", "Product Added"),
        ("track", "Checkout Started"),
        ("track", "Signed Up"),
        ("page", None),
        ("identify", None),
        ("track", "Newsletter Opened By Zebulon"),  # unmapped, PII in the event name
    ]
    for n in range(160):
        kind, name = kinds[n % len(kinds)]
        event: dict[str, Any] = {
            "type": kind,
            "messageId": f"pii-{n}",
            "timestamp": (now - timedelta(seconds=n)).isoformat().replace("+00:00", "Z"),
            "userId": f"cus_{n}",
            "context": {
                "ip": "203.0.113.9",
                "traits": _traits(n),
                "page": {"url": "https://shop.example/p", "title": "Shop"},
            },
            "properties": {
                "order_id": f"R{n}",
                "revenue": 12.5,
                "currency": "USD",
                "shipping_address": PII["street"],
                "recipient": f"{PII['first_name2']} {PII['last_name2']}",
                "note": f"call me at {PII['phone']} or {PII['email']}",
                "products": [{"product_id": "SKU-1", "name": "Tee", "price": 12.5, "quantity": 1}],
            },
        }
        if name is not None:
            event["event"] = name
        if n % 10 == 9:
            # No page URL: TikTok rejects the event (40002), its batch is split and it is
            # dead-lettered, with TikTok's error message in a log line.
            del event["context"]["page"]
        if kind == "identify":
            event["traits"] = _traits(n)
        events.append(event)
    return events


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[Emulator]:
    emu = Emulator(EmulatorConfig(token=TOKEN, pixel_code=PIXEL))
    emu.start()
    yield emu
    emu.stop()


def _scrape(port: int) -> str:
    return httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text


def _value(text: str, name: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_no_pii_or_token_in_logs_or_metrics(
    broker: Any, emulator: Emulator, collector: OtlpCollector, tmp_path: Path
) -> None:
    topic = broker.unique_topic("pii", partitions=2)
    events = _events(datetime.now(UTC))
    values = [encode_event(e) for e in events]
    keys = [e["userId"].encode() for e in events]
    # An undecodable record whose bytes carry a name and an e-mail (to the dead-letter topic).
    values.append(f"garbage {PII['first_name']} {PII['last_name']} {PII['email']}".encode())
    keys.append(None)
    broker.produce(topic, values, keys)
    total = len(values)

    port = free_port()
    env = broker.env(
        SOURCE_TOPIC=topic,
        KAFKA_GROUP_ID=broker.unique_group("pii"),
        TIKTOK_ACCESS_TOKEN=TOKEN,
        TIKTOK_PIXEL_CODE=PIXEL,
        TIKTOK_API_URL=emulator.base_url,
        LOG_LEVEL="debug",
        LOG_FORMAT="json",
        HEALTH_HOST="127.0.0.1",
        HEALTH_PORT=str(port),
        COMMIT_INTERVAL="200ms",
        BATCH_LINGER="50ms",
        SHUTDOWN_GRACE="5s",
    )
    env = {k: v for k, v in env.items() if not k.startswith("OTEL_")}
    # Spans and metrics also leave over OTLP: to a collector on loopback, searched the same way.
    env["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://127.0.0.1:{collector.server_port}"
    log_path = tmp_path / "run.log"
    with log_path.open("w") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "tiktok_capi.consumer", "run"],
            cwd=ROOT,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        metrics = ""
        try:
            deadline = time.monotonic() + 60
            while True:
                assert process.poll() is None, log_path.read_text()[-3000:]
                try:
                    metrics = _scrape(port)
                except httpx.HTTPError:
                    metrics = ""
                consumed = _value(metrics, "tiktok_capi_records_consumed_total")
                in_flight = _value(metrics, "tiktok_capi_in_flight_events")
                delivered = _value(metrics, "tiktok_capi_events_delivered_total")
                # The in-flight gauge is published on a later tick than the consumed counter:
                # both can read "done" before the first delivery, so wait for one too.
                if consumed >= total and in_flight == 0 and delivered > 0:
                    break
                assert time.monotonic() < deadline, f"not drained: consumed {consumed}/{total}"
                time.sleep(0.1)
            metrics = _scrape(port)
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    output = log_path.read_text()
    lines = [line for line in output.splitlines() if line.strip()]

    # The run produced real evidence: debug JSON lines, deliveries, a dead letter.
    assert len(lines) > 5
    json_lines = [json.loads(line) for line in lines if line.startswith("{")]
    assert any(entry["level"] == "debug" for entry in json_lines)
    assert emulator.stats()["accepted_events"] > 0
    assert _value(metrics, "tiktok_capi_events_delivered_total") > 0
    dead = _value(metrics, "tiktok_capi_events_dead_lettered_total")
    assert dead >= 2, "expected the garbage record and some invalid events dead-lettered"

    with collector.lock:
        exported = list(collector.bodies)
    paths = {path for path, _ in exported}
    assert {"/v1/metrics", "/v1/traces"} <= paths  # flushed at shutdown
    otlp = b"".join(body for _, body in exported)
    assert b"tiktok.track" in otlp  # a span per delivery request

    haystacks = {
        "logs": output.lower(),
        "metrics": metrics.lower(),
        "otlp": otlp.decode("utf-8", "replace").lower(),
    }
    leaks = [
        f"{label} {key}={value!r}"
        for key, value in {**PII, "token": TOKEN}.items()
        for label, text in haystacks.items()
        if value.lower() in text
    ]
    assert not leaks, "raw PII or the token leaked:\n" + "\n".join(leaks)
    # The redaction filter is a safety net: the code itself must not try to log PII either.
    masked = [line for line in lines if "[email]" in line or "[phone]" in line]
    assert not masked, "PII reached the logger (masked by the net):\n" + "\n".join(masked[:5])
    assert process.returncode == 0, output[-3000:]
