"""`tiktok-capi map`: JSON lines in, one TikTok event (or null) per line out."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.mapping.helpers import sha
from tiktok_capi.consumer.cli import main

ROOT = Path(__file__).resolve().parents[2]
ORDER = {
    "type": "track",
    "event": "Order Completed",
    "messageId": "m-1",
    "timestamp": "2024-01-08T13:52:50Z",
    "properties": {"email": "Joe@Example.com", "revenue": 10, "currency": "usd"},
    "context": {"page": {"url": "https://shop.example/thanks"}},
}
ORDER_OUT = {
    "event": "CompletePayment",
    "event_time": 1704721970,
    "event_id": "m-1",
    "user": {"email": sha("joe@example.com")},
    "properties": {"currency": "USD", "value": 10},
    "page": {"url": "https://shop.example/thanks"},
    "limited_data_use": False,
}


@pytest.fixture(autouse=True)
def _no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "EVENT_MAP_FILE",
        "PHONE_DEFAULT_REGION",
        "TIKTOK_PIXEL_CODE",
        "INTEGRATION_NAMES",
        "CONSENT_CATEGORIES",
        "CONSENT_REQUIRED",
    ):
        monkeypatch.delenv(name, raising=False)


def _lines(*items: Any) -> bytes:
    return b"".join(
        (item if isinstance(item, bytes) else orjson.dumps(item)) + b"\n" for item in items
    )


def _run(
    capsysbinary: pytest.CaptureFixture[bytes],
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    stdin: bytes = b"",
) -> tuple[int, list[Any], str]:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
    status = main(["map", *args])
    out, err = capsysbinary.readouterr()
    return status, [orjson.loads(line) for line in out.splitlines()], err.decode()


def test_maps_each_line_of_a_file(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(_lines(ORDER, {"type": "identify", "userId": "u"}, b"   ", ORDER))
    status, out, err = _run(capsysbinary, monkeypatch, [str(path)])
    assert (status, err) == (0, "")
    assert out == [ORDER_OUT, None, ORDER_OUT]  # the blank line is skipped


def test_reads_stdin_and_writes_compact_json_in_order(
    capsysbinary: pytest.CaptureFixture[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(_lines(ORDER))))
    assert main(["map", "-"]) == 0
    assert capsysbinary.readouterr().out == orjson.dumps(ORDER_OUT) + b"\n"


def test_bad_lines_are_reported_by_number_without_their_content(
    capsysbinary: pytest.CaptureFixture[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    stdin = _lines(
        ORDER,
        b'{"email": "joe@example.com", oops}',
        b'["joe@example.com"]',
        b"\xff\xfe",
        b'"+1 415 555 2671"',
        ORDER,
    )
    status, out, err = _run(capsysbinary, monkeypatch, [], stdin)
    assert status == 1
    assert out == [ORDER_OUT, None, None, None, None, ORDER_OUT]
    assert err.splitlines() == [
        "tiktok-capi map: line 2: not valid JSON: unexpected character, "
        "expected a string key (column 30)",
        "tiktok-capi map: line 3: not a JSON object (got an array)",
        "tiktok-capi map: line 4: not valid JSON: str is not valid UTF-8: surrogates not "
        "allowed (column 1)",
        "tiktok-capi map: line 5: not a JSON object (got a string)",
    ]
    assert "joe" not in err and "415" not in err


def test_json_that_orjson_refuses_is_still_read(
    capsysbinary: pytest.CaptureFixture[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    line = (
        b'{"type": "track", "event": "Order Completed", "messageId": "m", "properties": '
        b'{"value": NaN, "revenue": 3}}'
    )
    status, out, _ = _run(capsysbinary, monkeypatch, [], line + b"\n")
    assert status == 0
    assert out[0]["properties"] == {"value": 3}


def test_event_map_overrides(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    event_map = tmp_path / "map.json"
    event_map.write_text(json.dumps({"Order Completed": "Purchase", "Cart Viewed": "ViewContent"}))
    stdin = _lines(ORDER, {"type": "track", "event": "Cart Viewed", "messageId": "c"})
    status, out, _ = _run(capsysbinary, monkeypatch, ["--event-map", str(event_map)], stdin)
    assert status == 0
    assert [item["event"] for item in out] == ["Purchase", "ViewContent"]


def test_event_map_from_the_environment(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    event_map = tmp_path / "map.json"
    event_map.write_text('{"Order Completed": null}')
    monkeypatch.setenv("EVENT_MAP_FILE", str(event_map))
    status, out, _ = _run(capsysbinary, monkeypatch, [], _lines(ORDER))
    assert (status, out) == (0, [None])


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"Order Completed": ""}', "key 'Order Completed': the TikTok event name is empty"),
        ("{nope", "not valid JSON"),
    ],
)
def test_invalid_event_map_exits_2(
    tmp_path: Path,
    capsysbinary: pytest.CaptureFixture[bytes],
    monkeypatch: pytest.MonkeyPatch,
    content: str,
    message: str,
) -> None:
    event_map = tmp_path / "map.json"
    event_map.write_text(content)
    status, out, err = _run(capsysbinary, monkeypatch, ["--event-map", str(event_map)], b"{}\n")
    assert (status, out) == (2, [])
    assert err.startswith(f"tiktok-capi map: invalid event map: {event_map}: ")
    assert message in err


def test_phone_region(
    capsysbinary: pytest.CaptureFixture[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    event = {**ORDER, "properties": {"phone": "020 7946 0958"}}
    status, out, _ = _run(capsysbinary, monkeypatch, ["--phone-region", "gb"], _lines(event))
    assert status == 0
    assert out[0]["user"] == {"phone": sha("+442079460958")}
    status, out, err = _run(capsysbinary, monkeypatch, ["--phone-region", "XX"], _lines(event))
    assert (status, out) == (2, [])
    assert "unknown phone region 'XX'" in err


def test_missing_input_file_exits_2(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    status, _, err = _run(capsysbinary, monkeypatch, [str(tmp_path / "nope.jsonl")])
    assert status == 2
    assert "cannot read" in err and "No such file" in err


def test_verbose_explains_without_values(
    capsysbinary: pytest.CaptureFixture[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    stdin = _lines(
        {**ORDER, "properties": {"email": "joe@example.com", "value": "lots"}},
        {"type": "track", "event": "Cart Viewed"},
        b"[]",
    )
    args = ["-v", "--pixel-code", "PIX1", "--test-event-code", "TEST1"]
    status, out, err = _run(capsysbinary, monkeypatch, args, stdin)
    assert status == 1
    assert len(out) == 3
    assert err.splitlines() == [
        "tiktok-capi map: line 1: note: properties.value: expected a number, got a string "
        "that is not one; dropped",
        "tiktok-capi map: line 2: skipped: unmapped_event (Cart Viewed)",
        "tiktok-capi map: line 3: not a JSON object (got an array)",
        "tiktok-capi map: summary for pixel PIX1 (test event code set): invalid lines: 1, "
        "mapped: 1, skipped: unmapped_event: 1",
    ]


DISABLED = {**ORDER, "integrations": {"All": False, "Mixpanel": True}}
DECLINED = {
    **ORDER,
    "context": {**ORDER["context"], "consent": {"categoryPreferences": {"Advertising": False}}},
}
ONLY_MINE = {**ORDER, "integrations": {"All": False, "My TikTok": True}}


def test_verbose_shows_the_switches_of_the_source(
    capsysbinary: pytest.CaptureFixture[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    stdin = _lines(DISABLED, DECLINED, ORDER)
    args = ["-v", "--consent-categories", "Advertising"]
    status, out, err = _run(capsysbinary, monkeypatch, args, stdin)
    assert (status, out) == (0, [None, None, ORDER_OUT])
    assert err.splitlines() == [
        "tiktok-capi map: line 1: skipped: disabled_by_integrations (All: false)",
        "tiktok-capi map: line 2: skipped: no_consent (advertising)",
        "tiktok-capi map: summary: mapped: 1, skipped: disabled_by_integrations: 1, "
        "skipped: no_consent: 1",
    ]


def test_consent_is_not_checked_by_default(
    capsysbinary: pytest.CaptureFixture[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    status, out, _ = _run(capsysbinary, monkeypatch, [], _lines(DECLINED))
    assert (status, out[0]["event_id"]) == (0, "m-1")


def test_switches_default_to_the_connector_environment(
    capsysbinary: pytest.CaptureFixture[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INTEGRATION_NAMES", "My TikTok")
    monkeypatch.setenv("CONSENT_CATEGORIES", "advertising")
    monkeypatch.setenv("CONSENT_REQUIRED", "true")
    stdin = _lines(ONLY_MINE, DECLINED, {**ONLY_MINE, "context": DECLINED["context"]})
    status, out, _ = _run(capsysbinary, monkeypatch, [], stdin)
    # ONLY_MINE carries no consent preferences, and they are required
    assert (status, out) == (0, [None, None, None])
    args = ["--integration-names", "TikTok Ads", "--no-consent-required"]
    status, out, _ = _run(capsysbinary, monkeypatch, args, _lines(ONLY_MINE, ORDER))
    assert (status, out) == (0, [None, ORDER_OUT])
    granted = {"consent": {"categoryPreferences": {"Advertising": True}}}
    event = {**ONLY_MINE, "context": {**ORDER["context"], **granted}}
    status, out, _ = _run(capsysbinary, monkeypatch, [], _lines(event))
    assert (status, out[0]["event_id"]) == (0, "m-1")


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--consent-required"], {}, "--consent-required needs --consent-categories"),
        ([], {"CONSENT_REQUIRED": "true"}, "--consent-required needs --consent-categories"),
        ([], {"CONSENT_REQUIRED": "perhaps"}, "CONSENT_REQUIRED: not a boolean"),
    ],
)
def test_consent_required_without_categories_exits_2(
    capsysbinary: pytest.CaptureFixture[bytes],
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    env: dict[str, str],
    message: str,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    status, out, err = _run(capsysbinary, monkeypatch, args, _lines(ORDER))
    assert (status, out) == (2, [])
    assert message in err


def test_the_console_command(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "consumer", "map"],
        input=_lines(ORDER, {"type": "page", "messageId": "p", "properties": {"url": "u"}}),
        capture_output=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stderr) == (0, b"")
    lines = done.stdout.splitlines()
    assert orjson.loads(lines[0]) == ORDER_OUT
    assert orjson.loads(lines[1])["event"] == "Pageview"


def test_help_describes_the_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["map", "--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    options = ["--pixel-code", "--test-event-code", "--event-map", "--phone-region", "FILE"]
    options += ["--integration-names", "--consent-categories", "--consent-required"]
    for option in options:
        assert option in text


def test_a_closed_pipe_stops_quietly(tmp_path: Path) -> None:
    path = tmp_path / "many.jsonl"
    path.write_bytes(_lines(*[ORDER] * 20000))
    reader = subprocess.Popen(
        [sys.executable, "-m", "consumer", "map", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    assert reader.stdout is not None and reader.stderr is not None
    with reader.stdout, reader.stderr:
        reader.stdout.readline()
        reader.stdout.close()
        stderr = reader.stderr.read()
    assert reader.wait(timeout=60) == 1
    assert b"Traceback" not in stderr
