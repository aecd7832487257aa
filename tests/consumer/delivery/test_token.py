"""TIKTOK_ACCESS_TOKEN_FILE: the token from a mounted Secret, rotated without a restart."""

from __future__ import annotations

import io
import logging
import os
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.consumer.core_support import (
    delivered_ids,
    make_settings,
    produce_events,
    running,
    sample_events,
    settings_env,
)
from tests.fixtures.waiting import wait_for
from tiktok_capi.consumer.config.settings import ConfigError, TikTokSettings, load_settings
from tiktok_capi.consumer.config.values import SecretStr
from tiktok_capi.consumer.delivery.sender import HttpSender
from tiktok_capi.consumer.delivery.token import FileToken, StaticToken, token_of
from tiktok_capi.consumer.telemetry import logs
from tiktok_capi.consumer.telemetry.health_state import DestinationState, HealthState

REQUIRED = {"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9092", "TIKTOK_PIXEL_CODE": "PIXEL1"}


class SecretVolume:
    """A directory laid out and updated the way the kubelet does for a Secret volume:
    ``access-token -> ..data/access-token``, ``..data -> ..<timestamp>``, swapped atomically."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.generation = 0
        self.path = root / "access-token"

    def write(self, token: str) -> None:
        self.generation += 1
        version = self.root / f"..2026_11_25_08_00_{self.generation:02d}"
        version.mkdir()
        (version / "access-token").write_text(token + "\n")
        staged = self.root / "..data_tmp"
        staged.symlink_to(version.name)
        os.replace(staged, self.root / "..data")  # the atomic swap
        if not self.path.is_symlink():
            self.path.symlink_to("..data/access-token")


@pytest.fixture
def volume(tmp_path: Path) -> SecretVolume:
    mounted = SecretVolume(tmp_path)
    mounted.write("token-one-AAAA")
    return mounted


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_settings_read_the_file_without_its_newline(volume: SecretVolume) -> None:
    settings = load_settings({**REQUIRED, "TIKTOK_ACCESS_TOKEN_FILE": str(volume.path)})
    assert settings.tiktok.access_token.get_secret_value() == "token-one-AAAA"
    assert settings.tiktok.access_token_file == str(volume.path)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "TIKTOK_ACCESS_TOKEN: required"),
        ({"TIKTOK_ACCESS_TOKEN": "t", "TIKTOK_ACCESS_TOKEN_FILE": "/x"}, "not both"),
        ({"TIKTOK_ACCESS_TOKEN_FILE": "/no/such/file"}, "cannot read the token file"),
    ],
)
def test_token_settings_errors_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings({**REQUIRED, **env})


def test_an_empty_token_file_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "token"
    empty.write_text("\n")
    with pytest.raises(ConfigError, match=r"TIKTOK_ACCESS_TOKEN_FILE=.*the token file is empty"):
        load_settings({**REQUIRED, "TIKTOK_ACCESS_TOKEN_FILE": str(empty)})


def test_a_rotated_secret_is_read_again_by_path(volume: SecretVolume) -> None:
    clock = Clock()
    seen: list[str] = []
    token = FileToken(str(volume.path), "token-one-AAAA", clock=clock, on_new=seen.append)
    assert token.value() == "token-one-AAAA"
    volume.write("token-two-BBBB")
    assert token.value() == "token-one-AAAA"  # looked at once a second at most
    clock.now += 1.0
    assert token.value() == "token-two-BBBB"
    assert seen == ["token-one-AAAA", "token-two-BBBB"]  # registered before use
    clock.now += 1.0
    assert token.value() == "token-two-BBBB"
    assert seen == ["token-one-AAAA", "token-two-BBBB"]  # unchanged file: not read again


def test_an_unreadable_file_keeps_the_last_token(
    volume: SecretVolume, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    token = FileToken(str(volume.path), "token-one-AAAA", clock=clock, on_new=lambda _: None)
    (volume.root / "..data").unlink()
    clock.now += 5
    assert token.value() == "token-one-AAAA"
    clock.now += 5
    assert token.value() == "token-one-AAAA"
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "keeping the last token" in warnings[0].getMessage()
    assert "token-one" not in caplog.text


def test_a_new_token_is_never_logged(volume: SecretVolume) -> None:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    stream = io.StringIO()
    logs.configure("debug", "json", stream=stream)
    try:
        token = FileToken(str(volume.path), "token-one-AAAA", check_interval_s=0)
        volume.write("token-two-rotated-CCCC")
        assert token.value() == "token-two-rotated-CCCC"
        logging.getLogger("tiktok_capi.test").error("leaked %s", token.value())
    finally:
        for handler in list(root.handlers):
            if handler not in handlers:
                root.removeHandler(handler)
        root.setLevel(level)
    text = stream.getvalue()
    assert "changed: sending the new token" in text
    assert "token-two-rotated-CCCC" not in text and "[redacted]" in text


def test_every_request_carries_the_current_token(volume: SecretVolume) -> None:
    sent: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request.headers["Access-Token"])
        return httpx.Response(200, json={"code": 0, "message": "OK", "request_id": "r"})

    settings = TikTokSettings(
        access_token=SecretStr("token-one-AAAA"),
        access_token_file=str(volume.path),
        pixel_code="P",
        api_url="http://tiktok.test",
    )
    clock = Clock()
    token = FileToken(str(volume.path), "token-one-AAAA", clock=clock, on_new=lambda _: None)
    with HttpSender(settings, transport=httpx.MockTransport(answer), token=token) as sender:
        sender.deliver([b'{"event":"Pageview"}'])
        volume.write("token-two-BBBB")
        clock.now += 1
        sender.deliver([b'{"event":"Pageview"}'])
    assert sent == ["token-one-AAAA", "token-two-BBBB"]


def test_the_source_follows_the_settings(volume: SecretVolume) -> None:
    static = TikTokSettings(access_token=SecretStr("t-static"), pixel_code="P")
    assert isinstance(token_of(static), StaticToken) and token_of(static).value() == "t-static"
    from_file = load_settings({**REQUIRED, "TIKTOK_ACCESS_TOKEN_FILE": str(volume.path)}).tiktok
    assert isinstance(token_of(from_file), FileToken)


@pytest.mark.integration
def test_rotating_the_mounted_secret_resumes_delivery_without_a_restart(
    broker: Any, emulator: Any, tmp_path: Path
) -> None:
    """The old token is revoked (TikTok answers 40105): the destination pauses, nothing is
    dead-lettered; the kubelet swaps the Secret volume; the probe sends the new token and
    delivery resumes in the same process."""
    volume = SecretVolume(tmp_path)
    volume.write("revoked-old-token")
    topic = broker.unique_topic("rotate", partitions=2)
    group = broker.unique_group("rotate")
    stream = produce_events(broker, topic, sample_events(200, seed=41, prefix="rotate"))
    env = settings_env(broker, emulator, topic, group)
    del env["TIKTOK_ACCESS_TOKEN"]
    env["TIKTOK_ACCESS_TOKEN_FILE"] = str(volume.path)
    health = HealthState()
    with running(make_settings(env), health=health) as connector:
        wait_for(
            lambda: health.snapshot().destination is DestinationState.PAUSED_AUTH,
            timeout=30,
            what="the destination to pause for auth",
        )
        assert emulator.stats()["accepted_events"] == 0
        volume.write(emulator.token)  # the rotation: no restart
        wait_for(
            lambda: delivered_ids(emulator) == set(stream.expected),
            timeout=60,
            what="the deliveries",
        )
        assert health.snapshot().destination is DestinationState.RUNNING
        stats = connector.connector.stats()
    assert stats.dead_lettered_total == 0 and stats.retried_total == 0
