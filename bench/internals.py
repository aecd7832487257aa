"""The benchmarks' only door into the project's own packages (consumer, mapping, emulator, tools).

Every other module of ``bench/`` imports project code from here and nowhere else, so when a
module moves (as the decode step did into consumer/decode/) the fix is in this file only.
The suite itself drives the connector and the emulator as users do, as subprocesses configured
by environment variables (:func:`connector_command`, :func:`emulator_command`); what is imported
here is what cannot be reached that way: the sample data generator, the bundled Avro encoder,
the in-process decode + map + encode step (the ceiling), the embedded broker and the mypyc
build of the hot path.

Names are re-exported as they are; wrappers exist only where the benchmarks need a stable
shape (``ceiling_step``) or a setting the project keeps elsewhere.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from tiktok_capi.consumer.collector import freeze_startup_heap, tune_collector
from tiktok_capi.consumer.config.settings import OPTIONS, load_settings
from tiktok_capi.consumer.decode.codec import (
    BundledDecoder,
    bundled_schema_text,
    encode_event,
    encode_event_framed,
    frame,
    to_record,
)
from tiktok_capi.consumer.decode.formats import RecordDecoder
from tiktok_capi.consumer.decode.registry import RegisteredWriter
from tiktok_capi.consumer.decode.transform import (
    MAPPED,
    Transformer,
    make_transformer,
    mapping_settings,
)
from tiktok_capi.consumer.delivery.sender import envelope, request_body
from tiktok_capi.consumer.demo import thirdparty
from tiktok_capi.consumer.demo.broker import EmbeddedBroker, free_port
from tiktok_capi.consumer.demo.storefront import generate
from tiktok_capi.consumer.kafka.produce import produce_waiting
from tiktok_capi.emulator.config import EmulatorConfig
from tiktok_capi.emulator.contract import TRACK_PATH
from tiktok_capi.emulator.gctune import tuned_for_serving
from tiktok_capi.emulator.service import Emulator
from tiktok_capi.mapping import Mapped, MappingSettings, compiled, map_event
from tiktok_capi.mapping import user as mapping_user
from tiktok_capi.schemas.loader import cdp_event_schema
from tools import compile_mapping

__all__ = [
    "MAPPED",
    "METRICS_RESOLVED",
    "METRIC_CONSUMED",
    "ROOT",
    "TRACK_PATH",
    "BundledDecoder",
    "CeilingStep",
    "EmbeddedBroker",
    "Emulator",
    "EmulatorConfig",
    "Mapped",
    "MappingSettings",
    "RecordDecoder",
    "RegisteredWriter",
    "build_name",
    "bundled_schema_text",
    "cdp_event_schema",
    "ceiling_step",
    "compiled",
    "compiled_environ",
    "compiler_missing",
    "connector_command",
    "connector_defaults",
    "emulator_command",
    "encode_event",
    "encode_event_framed",
    "frame",
    "free_port",
    "freeze_startup_heap",
    "generate",
    "map_event",
    "mapping_user",
    "produce_waiting",
    "request_body",
    "sample_events",
    "thirdparty",
    "to_record",
    "tune_collector",
    "tuned_for_serving",
]

ROOT = Path(__file__).resolve().parent.parent

# The connector's Prometheus names (docs/metrics.md) the suite reads: records consumed, and the
# four ways a record is resolved. Names, not imports: they are the public interface.
METRIC_CONSUMED = "tiktok_capi_records_consumed_total"
METRICS_RESOLVED = (
    "tiktok_capi_events_delivered_total",
    "tiktok_capi_events_skipped_total",
    "tiktok_capi_events_dead_lettered_total",
    "tiktok_capi_events_retried_total",
)


def _cli() -> list[str]:
    """``tiktok-capi`` as installed next to this interpreter, else ``python -m consumer``."""
    script = Path(sys.executable).with_name("tiktok-capi")
    if script.exists():
        return [sys.executable, str(script)]
    return [sys.executable, "-m", "consumer"]


def connector_command() -> list[str]:
    """The command line of ``tiktok-capi run`` (configured by environment variables)."""
    return [*_cli(), "run"]


# The connector variables the suite varies (their defaults come from the settings' declarations).
_VARIED = (
    "BATCH_SIZE",
    "BATCH_LINGER",
    "MAX_IN_FLIGHT_REQUESTS",
    "MAX_IN_FLIGHT_EVENTS",
    "DECODE_WORKERS",
)


def connector_defaults() -> dict[str, str]:
    """The connector's defaults of the variables the suite varies (``{"BATCH_SIZE": "1000"}``)."""
    declared = {option.env: option.default for option in OPTIONS}
    return {variable: str(declared[variable]) for variable in _VARIED}


def emulator_command(port: int, token: str, pixel: str, *extra: str) -> list[str]:
    """The command line of ``tiktok-capi emulate`` on ``port`` (its first stdout line: its URL)."""
    return [*_cli(), "emulate", "--port", str(port), "--token", token, "--pixel-code", pixel,
            *extra]  # fmt: skip


def sample_events(n: int, seed: int, now: datetime) -> Iterator[dict[str, Any]]:
    """``n`` realistic storefront events (the demo's generator), ending a second before now."""
    return generate(n, seed=seed, now=now)


def build_name() -> str:
    """``"compiled"`` when this interpreter imports the mypyc-compiled hot path, else ``"pure"``."""
    return "compiled" if compiled() else "pure"


def compiler_missing() -> str | None:
    """Why the compiled build cannot be made here (no compiler, headers, mypy), else None."""
    return compile_mapping.compiler_missing()


def compiled_environ(base: Mapping[str, str]) -> dict[str, str]:
    """``base`` plus what makes a child interpreter import the compiled copy (built if stale)."""
    return compile_mapping.environ(compile_mapping.build(), base)


@dataclass(frozen=True)
class CeilingStep:
    """The connector's per-record work without Kafka or HTTP, as its decode workers run it.

    ``transform(values, now)`` returns one result tuple per value (``result[0] == MAPPED``:
    ``result[2]`` is the event's JSON); ``request_body(head, events, tail)`` is a request body.
    """

    transform: Callable[[Sequence[bytes | None], float], list[tuple[Any, ...]]]
    head: bytes
    tail: bytes


def ceiling_step(env: Mapping[str, str], decoder: Any | None = None) -> CeilingStep:
    """Decode + map + JSON-encode as ``tiktok-capi run`` configured by ``env`` does it.

    Args:
        env: the connector's environment variables (token, pixel, event map, phone region...).
        decoder: an object with ``decode(bytes) -> dict`` replacing the connector's own decoder
            (a stand-in for a value format the connector does not read yet).
    """
    settings = load_settings(env)
    transformer = (
        Transformer(decoder, mapping_settings(settings.mapping))
        if decoder is not None
        else make_transformer(settings)
    )
    head, tail = envelope(settings.tiktok)
    return CeilingStep(transformer.run, head, tail)
