"""`tiktok-capi map` — dry-run the mapping: Segment-spec JSON lines in, TikTok events out.

For every non-blank input line, one output line: the TikTok event object exactly as it would
appear in the request's ``data`` array, or ``null`` when the event is skipped (not a TikTok
event) or the line is not a JSON object. Bad lines are reported on stderr by line number
(never their content, which may hold PII) and make the exit status 1. Exit status 2 means the
configuration (event map, phone region, destination names, consent, input file) is unusable.
Every option defaults to the environment variable the connector reads, parsed the same way.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tiktok_capi.mapping import MappingSettings

_DESCRIPTION = """\
Read CDP (Segment-spec) events as JSON lines from FILE (or stdin) and write, for each
non-blank line, the TikTok Events API event it maps to -- exactly as it would appear in the
request's `data` array -- or `null` when the event is skipped or the line is not a JSON
object. Nothing is sent anywhere: use it to check a mapping before going live.

Exit status: 0 all lines read; 1 some line was not a JSON object (reported on stderr with its
line number); 2 invalid configuration (event map, phone region, consent) or unreadable FILE.
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
        if args.file == "-":
            return _map_lines(sys.stdin.buffer, settings, args)
        try:
            stream = open(args.file, "rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            _error(f"cannot read {args.file}: {exc.strerror}")
            return 2
        with stream:
            return _map_lines(stream, settings, args)
    except BrokenPipeError:
        # The reader went away (`... | head`): stop quietly, as other Unix filters do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1


def _decode(line: bytes) -> tuple[object, str | None]:
    """The JSON value of ``line``, or an error message that does not echo the line."""
    import json

    import orjson

    try:
        return orjson.loads(line), None
    except orjson.JSONDecodeError as exc:
        error = f"not valid JSON: {exc.msg} (column {exc.colno})"
    try:  # what orjson refuses but Python's json accepts (e.g. NaN)
        return json.loads(line), None
    except (ValueError, RecursionError):
        return None, error


def _map_lines(stream: IO[bytes], settings: MappingSettings, args: argparse.Namespace) -> int:
    """Map every line of ``stream`` to stdout; the exit status (0, or 1 if a line was bad)."""
    import time

    import orjson

    from tiktok_capi.mapping import Mapped, map_event
    from tiktok_capi.mapping.values import kind

    verbose: bool = args.verbose

    out = sys.stdout.buffer
    status = 0
    counts: Counter[str] = Counter()
    for number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        value, error = _decode(line)
        if error is None and not isinstance(value, dict):
            error = f"not a JSON object (got {kind(value)})"
        if error is not None:
            _error(f"line {number}: {error}")
            out.write(b"null\n")
            out.flush()
            counts["invalid lines"] += 1
            status = 1
            continue
        assert isinstance(value, dict)
        result = map_event(value, settings, time.time())
        encoded = b"null"
        if isinstance(result, Mapped):
            encoded = orjson.dumps(result.event)
            counts["mapped"] += 1
        else:
            counts[f"skipped: {result.reason}"] += 1
            if verbose:
                detail = f" ({result.detail})" if result.detail else ""
                _error(f"line {number}: skipped: {result.reason}{detail}")
        if verbose:
            for note in result.notes:
                _error(f"line {number}: note: {note}")
        out.write(encoded + b"\n")
        out.flush()
    if verbose:
        target = f" for pixel {args.pixel_code}" if args.pixel_code else ""
        mode = " (test event code set)" if args.test_event_code else ""
        summary = ", ".join(f"{key}: {count}" for key, count in sorted(counts.items()))
        _error(f"summary{target}{mode}: {summary or 'no events'}")
    return status
