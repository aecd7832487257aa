"""`tiktok-capi dlq` — look into the dead-letter topic and replay what it holds.

``dlq inspect`` prints one line per dead-letter record from its ``tiktok-capi.*`` headers (where
it came from, why it failed, how often) — never the record's value, which holds user data.

``dlq replay`` re-publishes dead-letter records (original key and value bytes, the user's own
headers, plus ``tiktok-capi.replayed-from``) to this group's first retry tier by default, which
only this group reads: `run` delivers them again once the cause is fixed. The source topic is
shared with every other consumer of it, so it is a target only on request (``--to-source``).
Both commands select records by reason, TikTok code, original partition/offset and time
(:mod:`~tiktok_capi.consumer.failures.selection`). ``replay`` first shows how many records
match (a dry run: that is all it does without ``--execute``), then replays them and commits its
progress in a consumer group of its own (:mod:`~tiktok_capi.consumer.failures.replay`), so an
interrupted replay resumes where it stopped and a second one does not repeat the first.

Kafka settings come from the same environment variables as `run` (``KAFKA_BOOTSTRAP_SERVERS``,
``KAFKA_GROUP_ID``, ``SOURCE_TOPIC``, ``RETRY_TOPIC``, ``DLQ_TOPIC``, ``KAFKA_*``); the TikTok ones
are not needed. librdkafka's reports go through the logs (warnings and errors, each kind once per
30 s), not one raw line per reconnect attempt.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from tiktok_capi.consumer.status import ExitStatus

if TYPE_CHECKING:
    from confluent_kafka import Consumer, Message

    from tiktok_capi.consumer.config.settings import KafkaSettings
    from tiktok_capi.consumer.failures.selection import Selection


def register(subparsers: Any) -> None:
    """Add the `dlq` sub-command with `inspect` and `replay`."""
    parser = subparsers.add_parser(
        "dlq",
        help="inspect or replay the dead-letter topic",
        description="Inspect or replay the dead-letter topic. Kafka settings come from the same "
        "environment variables as `run` (KAFKA_BOOTSTRAP_SERVERS, KAFKA_GROUP_ID, SOURCE_TOPIC, "
        "RETRY_TOPIC, DLQ_TOPIC, KAFKA_*); TikTok settings are not needed. See docs/retries.md.",
    )
    parser.set_defaults(func=lambda args: _usage(parser))
    commands = parser.add_subparsers(dest="dlq_command", metavar="ACTION")

    inspect = commands.add_parser(
        "inspect",
        help="print one line per dead-letter record (never its value)",
        description="Print one line per dead-letter record, from its headers: partition/offset, "
        "original topic/partition/offset, reason, error class, TikTok code and request_id, "
        "attempts, first failure, the group that wrote it and the (PII-free) error message. "
        "Values are never printed.",
    )
    inspect.add_argument("--topic", help="topic to read (default: DLQ_TOPIC)")
    inspect.add_argument(
        "--limit", type=_non_negative, default=100, help="records to show, 0 = all (default 100)"
    )
    inspect.add_argument("--json", action="store_true", help="one JSON object per line")
    _selection_arguments(inspect)
    inspect.add_argument(
        "--timeout",
        type=float,
        default=10.0,
        help="seconds to wait for the end of the topic (default 10)",
    )
    inspect.set_defaults(func=_inspect)

    replay = commands.add_parser(
        "replay",
        help="re-publish dead-letter records to this group's first retry tier",
        description="Count the dead-letter records the selection matches and that this "
        "selection has not replayed yet (a dry run), and with --execute re-publish them "
        "(original key and value, headers without tiktok-capi.* plus tiktok-capi.replayed-from) "
        "to this group's first retry tier, {RETRY_TOPIC}.1, which only this consumer group "
        "reads. Progress is committed in a consumer group of its own after the broker "
        "acknowledged each batch (and on Ctrl-C/SIGTERM for what was acknowledged), so an "
        "interrupted replay resumes and running it again does not repeat it.",
        epilog="examples:\n"
        "  tiktok-capi dlq replay                                  # how many, by reason\n"
        "  tiktok-capi dlq replay --reason invalid_event --since 2h --execute\n"
        "  tiktok-capi dlq replay --code 40002 --partition 3 --offsets 1000-2000 --execute\n"
        "\nexit status: 0 done (or dry run), 1 Kafka error, 2 usage, 130 interrupted",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    replay.add_argument(
        "--execute",
        action="store_true",
        help="replay the matching records (without it: only count them)",
    )
    where = replay.add_mutually_exclusive_group()
    where.add_argument(
        "--to-source",
        action="store_true",
        help="replay to SOURCE_TOPIC instead: every other consumer of that topic gets the "
        "records again too",
    )
    where.add_argument("--to-topic", help="replay to this topic instead")
    replay.add_argument("--topic", help="dead-letter topic to read (default: DLQ_TOPIC)")
    _selection_arguments(replay)
    replay.add_argument(
        "--limit", type=_non_negative, default=0, help="records to replay, 0 = all (default)"
    )
    replay.add_argument(
        "--group",
        help="consumer group remembering progress (default: {KAFKA_GROUP_ID}.dlq-replay, plus "
        "a digest of the selection when there is one)",
    )
    replay.add_argument(
        "--batch", type=_positive, default=1000, help="records per acknowledged batch (1000)"
    )
    replay.add_argument(
        "--timeout",
        type=float,
        default=10.0,
        help="seconds to wait for records when none arrive (default 10)",
    )
    replay.set_defaults(func=_replay)


def _selection_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "selection", "a record is selected when it satisfies every option given"
    )
    group.add_argument(
        "--reason",
        action="append",
        default=[],
        help="dead-letter reason (invalid_event, decode_error, retries_exhausted, ...); repeat "
        "for any of several",
    )
    group.add_argument(
        "--code", action="append", default=[], help="TikTok code (40002, ...); repeatable"
    )
    group.add_argument(
        "--partition",
        action="append",
        type=_non_negative,
        default=[],
        help="original (source) partition; repeatable",
    )
    group.add_argument(
        "--offsets", metavar="FROM-TO", help="original offsets, inclusive (FROM- or -TO too)"
    )
    group.add_argument(
        "--since",
        metavar="WHEN",
        help="dead-lettered at or after WHEN: a duration ago (30m, 2h, 7d) or an ISO-8601 time",
    )
    group.add_argument("--until", metavar="WHEN", help="dead-lettered at or before WHEN")


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return ExitStatus.USAGE


def _fail(command: str, message: str) -> None:
    print(f"tiktok-capi dlq {command}: {message}", file=sys.stderr)


def _settings_or_exit(command: str) -> KafkaSettings | None:
    from tiktok_capi.consumer.config.settings import ConfigError, load_kafka_settings
    from tiktok_capi.consumer.telemetry import logs

    try:
        settings = load_kafka_settings(os.environ)
    except ConfigError as exc:
        for problem in str(exc).splitlines():
            _fail(command, f"configuration error: {problem}")
        return None
    # librdkafka's reports through the logs: warnings and errors, each kind once per 30 s.
    logs.configure("warning", "auto")
    redacted = settings.redacted_properties()
    for key, value in settings.properties.items():
        if redacted[key] != value:
            logs.register_secret(value)
    return settings


def _selection(args: argparse.Namespace, command: str) -> Selection | None:
    from tiktok_capi.consumer.failures.selection import Selection

    try:
        return Selection.parse(
            reasons=args.reason,
            codes=args.code,
            partitions=args.partition,
            offsets=args.offsets,
            since=args.since,
            until=args.until,
            now=time.time(),
        )
    except ValueError as exc:
        _fail(command, str(exc))
        return None


def _reader(settings: KafkaSettings, group: str) -> Consumer:
    from tiktok_capi.consumer.failures.replay import reader

    return reader(settings, group)


class _Unreachable(Exception):
    """The cluster did not answer; the message names each address and the likely cause."""


def _partitions(
    settings: KafkaSettings, consumer: Consumer, topic: str, timeout: float
) -> list[int]:
    from confluent_kafka import KafkaException

    from tiktok_capi.consumer.kafka.reach import diagnose
    from tiktok_capi.consumer.kafka.topics import read_metadata

    try:
        metadata = read_metadata(consumer, timeout)
    except KafkaException as exc:
        protocol = settings.properties.get("security.protocol", "plaintext")
        raise _Unreachable(
            f"cannot reach the Kafka cluster within {timeout:g}s: "
            + diagnose(settings.bootstrap_servers, protocol)
        ) from exc
    found = metadata.topics.get(topic)
    if found is None or found.error is not None or not found.partitions:
        raise LookupError(f"topic {topic!r} does not exist")
    return sorted(found.partitions)


def describe(msg: Message) -> dict[str, Any]:
    """What `inspect` shows of one dead-letter record: its headers, never its value."""
    from tiktok_capi.consumer.failures import tiers as rt
    from tiktok_capi.consumer.failures.replay import header_texts

    headers = header_texts(msg)
    original = None
    if rt.HEADER_ORIGINAL_TOPIC in headers:
        original = (
            f"{headers[rt.HEADER_ORIGINAL_TOPIC]}/{headers.get(rt.HEADER_ORIGINAL_PARTITION)}"
            f"@{headers.get(rt.HEADER_ORIGINAL_OFFSET)}"
        )
    return {
        "partition": msg.partition(),
        "offset": msg.offset(),
        "original": original,
        "reason": headers.get(rt.HEADER_REASON),
        "error_class": headers.get(rt.HEADER_ERROR_CLASS),
        "code": headers.get(rt.HEADER_TIKTOK_CODE),
        "request_id": headers.get(rt.HEADER_TIKTOK_REQUEST_ID),
        "attempts": headers.get(rt.HEADER_ATTEMPT),
        "first_failure": headers.get(rt.HEADER_FIRST_FAILURE),
        "failed_at": headers.get(rt.HEADER_FAILED_AT),
        "group": headers.get(rt.HEADER_GROUP),
        "message": headers.get(rt.HEADER_ERROR_MESSAGE),
        "value_bytes": len(msg.value() or b""),
    }


def _line(info: Mapping[str, Any]) -> str:
    def show(key: str) -> str:
        value = info[key]
        return "-" if value is None else str(value)

    return (
        f"{info['partition']}:{info['offset']} original={show('original')} "
        f"reason={show('reason')} class={show('error_class')} code={show('code')} "
        f"request_id={show('request_id')} attempts={show('attempts')} "
        f"first_failure={show('first_failure')} group={show('group')} "
        f"message={json.dumps(info['message'] or '')}"
    )


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{reason}={n}" for reason, n in sorted(counter.items())) or "none"


def _inspect(args: argparse.Namespace) -> int:
    from confluent_kafka import OFFSET_BEGINNING, KafkaException, TopicPartition

    from tiktok_capi.consumer.failures.replay import header_texts, read_to_end, timestamp_ms

    settings = _settings_or_exit("inspect")
    selection = _selection(args, "inspect") if settings is not None else None
    if settings is None or selection is None:
        return ExitStatus.USAGE
    topic = args.topic or settings.dlq_topic
    consumer = _reader(settings, f"{settings.group_id}.dlq-inspect")
    shown = 0
    reasons: Counter[str] = Counter()
    try:
        partitions = _partitions(settings, consumer, topic, args.timeout)
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        for batch in read_to_end(consumer, len(partitions), args.timeout):
            for msg in batch:
                if not selection.matches(header_texts(msg), timestamp_ms(msg)):
                    continue
                info = describe(msg)
                print(json.dumps(info) if args.json else _line(info))
                reasons[info["reason"] or "-"] += 1
                shown += 1
                if args.limit and shown >= args.limit:
                    break
            if args.limit and shown >= args.limit:
                break
    except (KafkaException, LookupError, _Unreachable) as exc:
        _fail("inspect", _error_text(exc))
        return ExitStatus.FAILED
    finally:
        consumer.close()  # never commits: inspect leaves no trace
    which = f" matching {selection.spec}" if selection.spec else ""
    print(f"{shown} dead-letter records{which} from {topic} ({_counts(reasons)})", file=sys.stderr)
    return ExitStatus.OK


def _error_text(exc: BaseException) -> str:
    error = exc.args[0] if exc.args else exc
    describe_error = getattr(error, "str", None)
    return str(describe_error()) if callable(describe_error) else str(error)


@contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """SIGTERM (kubectl delete, a supervisor) stops a replay like Ctrl-C does."""
    try:
        previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    except ValueError:  # not the main thread (tests)
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _replay(args: argparse.Namespace) -> int:
    from confluent_kafka import KafkaException

    from tiktok_capi.consumer.failures.replay import Replay, ReplayError
    from tiktok_capi.consumer.failures.tiers import RetryTiers

    settings = _settings_or_exit("replay")
    selection = _selection(args, "replay") if settings is not None else None
    if settings is None or selection is None:
        return ExitStatus.USAGE
    source = args.topic or settings.dlq_topic
    first_tier = RetryTiers.from_settings(settings).topics[0]
    target = args.to_topic or (settings.source_topic if args.to_source else first_tier)
    if target == source:
        _fail("replay", "the target must differ from the dead-letter topic")
        return ExitStatus.USAGE
    group = args.group or f"{settings.group_id}.dlq-replay"
    if args.group is None and not selection.everything:
        group += f".{selection.digest()}"  # each selection remembers its own progress
    into_tier = target == first_tier
    replay = Replay(
        settings,
        source,
        target,
        group,
        selection,
        batch=args.batch,
        keep_origin=into_tier,
        writer_group=settings.group_id if into_tier else None,
    )
    which = f" matching {selection.spec}" if selection.spec else ""
    try:
        with _sigterm_interrupts():
            probe = _reader(settings, group)
            try:
                partitions = _partitions(settings, probe, source, args.timeout)
                targets = set(_partitions(settings, probe, target, args.timeout))
            finally:
                probe.close()
            plan = replay.plan(partitions, args.timeout)
            count = min(plan.matched, args.limit) if args.limit else plan.matched
            print(
                f"{plan.matched} of {plan.read} dead-letter records{which} in {source} not "
                f"replayed yet ({_counts(plan.reasons)}); progress group {group}",
                flush=True,
            )
            if not args.execute:
                if plan.matched:
                    print(f"dry run: add --execute to replay {count} of them to {target}")
                return ExitStatus.OK
            replayed = replay.run(plan, targets, args.limit, args.timeout)
    except KeyboardInterrupt:
        print(
            f"tiktok-capi dlq replay: interrupted after {replay.replayed} records; their "
            "progress is committed, run the same command again to go on",
            file=sys.stderr,
        )
        return ExitStatus.INTERRUPTED
    except (KafkaException, LookupError, ReplayError, _Unreachable) as exc:
        _fail("replay", _error_text(exc))
        return ExitStatus.FAILED
    print(f"replayed {replayed} records from {source} to {target} (progress in group {group})")
    return ExitStatus.OK
