"""Fault and emulator configuration values (no sockets)."""

from __future__ import annotations

from typing import Any

import pytest

from tiktok_capi.emulator.config import (
    EmulatorConfig,
    FaultConfig,
    InvalidFaults,
    faults_from_mapping,
)


def test_every_fault_is_off_by_default() -> None:
    faults = FaultConfig()
    assert faults.error_5xx_rate == faults.throttle_rate == faults.hang_rate == 0
    assert faults.drop_rate == faults.latency_ms == 0
    assert faults.token_revoked_until is None and faults.qps_limit is None
    assert EmulatorConfig().faults == faults


@pytest.mark.parametrize(
    "fields",
    [
        {"error_5xx_rate": 1.5},
        {"throttle_rate": -0.1},
        {"drop_rate": True},
        {"hang_rate": "0.5"},
        {"latency_ms": -1},
        {"hang_s": 301},
        {"qps_limit": 0},
        {"token_revoked_until": "soon"},
        {"throttle_http_status": 418},
        {"retry_after_s": -1},
        {"seed": 1.5},
    ],
)
def test_bad_values_are_refused(fields: dict[str, Any]) -> None:
    with pytest.raises(InvalidFaults):
        FaultConfig(**fields)


def test_faults_from_mapping_replaces_and_converts_revoke_for_s() -> None:
    faults = faults_from_mapping({"revoke_for_s": 30, "throttle_rate": 0.5}, now=lambda: 100.0)
    assert faults == FaultConfig(token_revoked_until=130.0, throttle_rate=0.5)
    assert faults_from_mapping({}) == FaultConfig()
    assert faults_from_mapping({"revoke_for_s": None}) == FaultConfig()


@pytest.mark.parametrize(
    "spec",
    [
        {"nope": 1},
        {"revoke_for_s": -1},
        {"revoke_for_s": 1, "token_revoked_until": 5.0},
    ],
)
def test_faults_from_mapping_refuses_bad_specs(spec: dict[str, Any]) -> None:
    with pytest.raises(InvalidFaults):
        faults_from_mapping(spec)


def test_as_dict_round_trips() -> None:
    faults = FaultConfig(latency_ms=5, qps_limit=10, seed=3)
    assert faults_from_mapping(faults.as_dict()) == faults
