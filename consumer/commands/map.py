"""`tiktok-capi map` — dry-run the mapping: events in (a file or a topic), TikTok events out.

Inputs (:mod:`.map_inputs`): Segment JSON lines (``--format json``, the default for files); with
``--format avro`` an Avro object container file, or with ``--schema FILE`` lines in Avro's JSON
encoding; with ``--from-topic T`` the first ``--limit`` records of a Kafka topic, decoded exactly
as the connector decodes them (VALUE_FORMAT, AVRO_SCHEMA_FILE, SCHEMA_REGISTRY_*). The field
paths of ``--fields`` (``SOURCE_FIELDS_FILE``) apply before the mapping, as in the connector.

For every input item, one output line: the TikTok event object exactly as it would appear in
the request's ``data`` array, or ``null`` when the event is skipped (not a TikTok event) or the
item is not an event. Bad items are reported on stderr by where they are (line number, record
number, partition and offset; never their content, which may hold PII) and make the exit status
1. Exit status 2 means the configuration (event map, field paths, schema, phone region,
destination names, consent, input file, broker) is unusable. Every option defaults to the
environment variable the connector reads, parsed the same way.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tiktok_capi.mapping import MappingSettings
    from tiktok_capi.mapping.fieldpaths import FieldPaths

_DESCRIPTION = """\
Read CDP (Segment-spec) events and write, for each, the TikTok Events API event it maps to --
exactly as it would appear in the request's `data` array -- or `null` when the event is skipped
or the input is not an event. Nothing is sent anywhere: use it to check a mapping before going
live, on your own records.

Inputs: JSON lines from FILE (or stdin); --format avro: an Avro object container file, or with
--schema FILE lines in Avro's JSON encoding (as kafka-avro-console-consumer prints them);
--from-topic T: the first --limit records of a Kafka topic (KAFKA_BOOTSTRAP_SERVERS), decoded as
the connector decodes them (VALUE_FORMAT, AVRO_SCHEMA_FILE, SCHEMA_REGISTRY_URL, ...); nothing
is committed. --fields FILE (SOURCE_FIELDS_FILE) maps your field names to Segment's first.

Exit status: 0 every input read; 1 some input was not an event (reported on stderr by line,
record or offset); 2 invalid configuration or unreadable input.
"""


def _env_default(name: str) -> str | None:
    """The connector's value of variable ``name``: the environment, else its default."""
    from tiktok_capi.consumer.config.settings import OPTIONS

    raw = os.environ.get(name, "")
    if raw.strip():
        return raw
    return next(option.default for option in OPTIONS if option.env == name)


def register(subparsers: Any) -> None:
    """Add the `map` sub-command."""
    parser = subparsers.add_parser(
        "map",
        help="map Segment-spec JSON lines to TikTok events (dry run, nothing is sent)",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "file",
        metavar="FILE",
        nargs="?",
        default="-",
        help="JSON lines of CDP events; '-' or absent: stdin",
    )
    parser.add_argument(
        "--format",
        choices=("json", "avro"),
        default=None,
        help="what FILE (or the topic's values) holds: Segment JSON lines, or Avro. Default: "
        "json for files; $VALUE_FORMAT (else avro) for --from-topic",
    )
    parser.add_argument(
        "--schema",
        metavar="FILE",
        default=None,
        help="Avro writer schema (.avsc): with --format avro, FILE holds records in Avro's JSON "
        "encoding, one a line; with --from-topic, the schema of plain Avro values. Default: "
        "$AVRO_SCHEMA_FILE for --from-topic",
    )
    parser.add_argument(
        "--fields",
        metavar="FILE",
        default=os.environ.get("SOURCE_FIELDS_FILE") or None,
        help="field paths (JSON or YAML) from Segment names to yours (docs/inputs.md). "
        "Default: $SOURCE_FIELDS_FILE",
    )
    parser.add_argument(
        "--from-topic",
        metavar="T",
        default=None,
        help="read records from Kafka topic T instead of FILE (from the start of every "
        "partition; no group is joined, nothing is committed)",
    )
    parser.add_argument(
        "--limit",
        metavar="N",
        type=int,
        default=100,
        help="with --from-topic: how many records to read at most (default %(default)s)",
    )
    parser.add_argument(
        "--pixel-code",
        metavar="P",
        default=os.environ.get("TIKTOK_PIXEL_CODE"),
        help="TikTok pixel code (event_source_id of the request; shown with --verbose, it does "
        "not change the events). Default: $TIKTOK_PIXEL_CODE",
    )
    parser.add_argument(
        "--test-event-code",
        metavar="T",
        default=os.environ.get("TIKTOK_TEST_EVENT_CODE"),
        help="TikTok test event code (request level; shown with --verbose, it does not change "
        "the events). Default: $TIKTOK_TEST_EVENT_CODE",
    )
    parser.add_argument(
        "--event-map",
        metavar="FILE",
        default=os.environ.get("EVENT_MAP_FILE") or None,
        help="JSON file overriding/extending the CDP -> TikTok event mapping "
        "(see docs/mapping.md). Default: $EVENT_MAP_FILE, else the built-in table",
    )
    parser.add_argument(
        "--phone-region",
        metavar="R",
        default=os.environ.get("PHONE_DEFAULT_REGION") or "US",
        help="region (ISO 3166 alpha-2) of phone numbers written without a country code. "
        "Default: $PHONE_DEFAULT_REGION, else US",
    )
    parser.add_argument(
        "--integration-names",
        metavar="NAMES",
        default=_env_default("INTEGRATION_NAMES"),
        help="comma-separated keys of the `integrations` object that mean this destination "
        "(case-insensitive). Default: $INTEGRATION_NAMES, else %(default)s",
    )
    parser.add_argument(
        "--consent-categories",
        metavar="CATS",
        default=_env_default("CONSENT_CATEGORIES"),
        help="comma-separated consent categories that must all be true in "
        "context.consent.categoryPreferences (e.g. Advertising). Default: $CONSENT_CATEGORIES, "
        "else none (consent is not checked)",
    )
    parser.add_argument(
        "--consent-required",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="with --consent-categories, also skip events without consent preferences. "
        "Default: $CONSENT_REQUIRED, else false",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="also report on stderr, per line, why an event was skipped and which fields were "
        "dropped or coerced, and a summary at the end (never values)",
    )
    parser.set_defaults(func=_run)


def _error(message: str) -> None:
    sys.stderr.write(f"tiktok-capi map: {message}\n")


def _switches(args: argparse.Namespace) -> dict[str, Any]:
    """The integrations and consent settings, parsed as the connector parses its variables.

    Raises:
        ValueError: a value does not parse, or consent is required without categories.
    """
    from tiktok_capi.consumer.config.settings import OPTIONS

    parse = {option.env: option.parse for option in OPTIONS}
    names = parse["INTEGRATION_NAMES"](args.integration_names or "")
    categories = parse["CONSENT_CATEGORIES"](args.consent_categories or "")
    required = args.consent_required
    if required is None:
        try:
            required = parse["CONSENT_REQUIRED"](_env_default("CONSENT_REQUIRED") or "false")
        except ValueError as exc:
            raise ValueError(f"CONSENT_REQUIRED: {exc}") from None
    if required and not categories:
        raise ValueError("--consent-required needs --consent-categories (e.g. Advertising)")
    return {
        "integration_names": names,
        "consent_categories": categories,
        "consent_required": required,
    }


def _run(args: argparse.Namespace) -> int:
    from tiktok_capi.consumer.config.files import InputFileError, load_source_fields
    from tiktok_capi.mapping import EventMapError, MappingSettings, load_event_map

    try:
        event_map = load_event_map(args.event_map) if args.event_map else None
    except EventMapError as exc:
        _error(f"invalid event map: {exc}")
        return 2
    try:
        switches = _switches(args)
    except ValueError as exc:
        _error(str(exc))
        return 2
    region = str(args.phone_region)
    try:
        settings = (
            MappingSettings(event_map=event_map, default_phone_region=region, **switches)
            if event_map is not None
            else MappingSettings(default_phone_region=region, **switches)
        )
    except ValueError as exc:
        _error(f"--phone-region: {exc}")
        return 2
    try:
        paths = load_source_fields(args.fields, "--fields") if args.fields else None
    except InputFileError as exc:
        _error(str(exc))
        return 2

    from tiktok_capi.consumer.commands.map_inputs import InputError

    try:
        if args.from_topic:
            return _map_topic(args, settings, paths)
        if args.file == "-":
            return _map_stream(sys.stdin.buffer, settings, paths, args)
        try:
            stream = open(args.file, "rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            _error(f"cannot read {args.file}: {exc.strerror}")
            return 2
        with stream:
            return _map_stream(stream, settings, paths, args)
    except InputError as exc:
        _error(str(exc))
        return 2
    except BrokenPipeError:
        # The reader went away (`... | head`): stop quietly, as other Unix filters do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1


def _map_stream(
    stream: IO[bytes], settings: MappingSettings, paths: FieldPaths | None, args: argparse.Namespace
) -> int:
    from tiktok_capi.consumer.commands import map_inputs
    from tiktok_capi.consumer.config.files import InputFileError, load_avro_schema

    if (args.format or "json") == "json":
        if args.schema:
            _error("--schema needs --format avro (or --from-topic)")
            return 2
        return _map_items(map_inputs.json_lines(stream), settings, paths, args)
    if args.schema:
        try:
            schema = load_avro_schema(args.schema, "--schema")
        except InputFileError as exc:
            _error(str(exc))
            return 2
        return _map_items(map_inputs.avro_json_lines(stream, schema), settings, paths, args)
    return _map_items(map_inputs.avro_file(stream), settings, paths, args)


def _map_topic(
    args: argparse.Namespace, settings: MappingSettings, paths: FieldPaths | None
) -> int:
    import dataclasses

    from tiktok_capi.consumer.commands import map_inputs
    from tiktok_capi.consumer.config.files import InputFileError
    from tiktok_capi.consumer.config.settings import (
        ConfigError,
        load_input_settings,
        load_kafka_settings,
    )
    from tiktok_capi.consumer.decode.registry import RegistryConfigError

    if args.limit < 1:
        _error("--limit must be at least 1")
        return 2
    try:
        kafka = load_kafka_settings(os.environ)
        inputs = load_input_settings(os.environ)
    except ConfigError as exc:
        for problem in str(exc).splitlines():
            _error(f"configuration error: {problem}")
        return 2
    overrides: dict[str, Any] = {}
    if args.format:
        overrides["value_format"] = args.format
    if args.schema:
        overrides["avro_schema_file"] = args.schema
    inputs = dataclasses.replace(inputs, **overrides)
    try:
        items = map_inputs.topic(kafka, inputs, args.from_topic, args.limit)
        return _map_items(items, settings, paths, args)
    except (InputFileError, RegistryConfigError) as exc:
        _error(str(exc))
        return 2


def _map_items(
    items: Iterator[tuple[str, dict[str, Any] | None, str | None]],
    settings: MappingSettings,
    paths: FieldPaths | None,
    args: argparse.Namespace,
) -> int:
    """Map every item to stdout; the exit status (0, or 1 if an item was not an event)."""
    import time

    import orjson

    from tiktok_capi.mapping import Mapped, map_event
    from tiktok_capi.mapping.fieldpaths import remap

    verbose: bool = args.verbose

    out = sys.stdout.buffer
    status = 0
    counts: Counter[str] = Counter()
    for label, event, error in items:
        if event is None:
            _error(f"{label}: {error}")
            out.write(b"null\n")
            out.flush()
            counts["invalid lines" if label.startswith("line") else "invalid records"] += 1
            status = 1
            continue
        if paths is not None:
            event = remap(event, paths)
        result = map_event(event, settings, time.time())
        encoded = b"null"
        if isinstance(result, Mapped):
            encoded = orjson.dumps(result.event)
            counts["mapped"] += 1
        else:
            counts[f"skipped: {result.reason}"] += 1
            if verbose:
                detail = f" ({result.detail})" if result.detail else ""
                _error(f"{label}: skipped: {result.reason}{detail}")
        if verbose:
            for note in result.notes:
                _error(f"{label}: note: {note}")
        out.write(encoded + b"\n")
        out.flush()
    if verbose:
        target = f" for pixel {args.pixel_code}" if args.pixel_code else ""
        mode = " (test event code set)" if args.test_event_code else ""
        summary = ", ".join(f"{key}: {count}" for key, count in sorted(counts.items()))
        _error(f"summary{target}{mode}: {summary or 'no events'}")
    return status
