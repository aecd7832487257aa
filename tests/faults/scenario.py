"""One fault run: topics, traffic, connectors, then the accounting invariant and the leak scan.

A fault test reads as: make a run, inject the fault, produce, start `tiktok-capi run`, wait until
everything is resolved, finish::

    run = fault_run(partitions=2)
    run.emulator.set_faults(error_5xx_rate=0.3, seed=1)
    run.produce_events(run.storefront(1500))
    run.start()
    run.wait_settled(60)
    report = run.finish()          # SIGTERM, exit 0, no process left, invariant, no leak
    assert report.dead_lettered == 0

:meth:`FaultRun.finish` asserts the accounting invariant (``tests/fixtures/accounting.py``) and
scans every connector log, the retry and dead-letter headers, the emulator's record and the
``/metrics`` page for the access token and the events' raw PII. With
``TIKTOK_CAPI_FAULT_FIGURES=<file>`` set, each finished run appends its figures to that file as a
JSON line (``docs/reliability.md`` quotes them).
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
from confluent_kafka import Producer

from tests.fixtures.accounting import Accountant, Expectation, Produced, Report, expect_event
from tests.fixtures.capi import avro, avro_framed, bundled_schema, storefront_events
from tests.fixtures.leaks import find_leaks, pii_needles
from tests.fixtures.processes import QUICK_RUN, ConnectorProcess, ConnectorRunner
from tests.fixtures.waiting import wait_for

__all__ = ["FaultRun"]

FIGURES_ENV = "TIKTOK_CAPI_FAULT_FIGURES"
FIGURES: list[dict[str, Any]] = []
"""The figures of every run finished in this session (the terminal summary prints them)."""
SHUTDOWN_TIMEOUT_S = 30.0
PROCESS_EXIT_TIMEOUT_S = 10.0


class FaultRun:
    """Topics, a ledger of produced records, connectors and the checks of one fault test.

    Args:
        name: the test's name (figures, topic names).
        broker: a :class:`~tests.fixtures.broker.BrokerHelper`.
        emulator: an emulator of this run's own (its token is unique to the run).
        connectors: starts and cleans up `tiktok-capi run` processes.
        partitions: partitions of the source, the retry tiers and the dead-letter topic.
        retry_delays: ``RETRY_DELAYS``.
        registry: a schema registry (``tests/fixtures/registry.py``): values are then
            Confluent-framed and ``SCHEMA_REGISTRY_URL`` is set.
    """

    def __init__(
        self,
        name: str,
        *,
        broker: Any,
        emulator: Any,
        connectors: ConnectorRunner,
        partitions: int = 2,
        retry_delays: Sequence[str] = ("1s", "2s"),
        registry: Any = None,
    ) -> None:
        self.name = name
        self.broker = broker
        self.emulator = emulator
        self.connectors = connectors
        self.partitions = partitions
        self.retry_delays = tuple(retry_delays)
        self.registry = registry
        self.schema_id = registry.register("cdp-value", bundled_schema()) if registry else None
        slug = "".join(c if c.isalnum() else "-" for c in name)[:40]
        self.topic = broker.unique_topic(f"fault-{slug}", partitions)
        self.group = broker.unique_group(f"fault-{slug}")
        # The connector's default names, private to its group (docs/configuration.md).
        self.retry_topics = [
            f"{self.topic}.{self.group}.retry.{n}" for n in range(1, len(retry_delays) + 1)
        ]
        self.dlq_topic = f"{self.topic}.{self.group}.dlq"
        for topic in (*self.retry_topics, self.dlq_topic):
            broker.create_topic(topic, partitions)  # before anything asks for them: see TopicReader
        self.produced: list[Produced] = []
        self.events: list[dict[str, Any]] = []
        self.notes: dict[str, Any] = {}
        self._metrics: list[str] = []
        self._accountant: Accountant | None = None
        self._producer: Producer | None = Producer(
            {
                "bootstrap.servers": broker.bootstrap,
                "linger.ms": 5,
                "message.max.bytes": 64 * 1024 * 1024,  # oversized test records
                # Megabyte test values are mostly one repeated character: compressed, they cost
                # the broker (and the test) next to nothing; the connector still holds them whole.
                "compression.type": "lz4",
                "log_level": 2,
            }
        )
        self._prefix = uuid.uuid4().hex[:8]
        self._started = time.monotonic()

    # -- configuration -------------------------------------------------------------------
    def env(self, **overrides: str) -> dict[str, str]:
        """The connector's environment for this run, with ``overrides``."""
        env = dict(QUICK_RUN)
        env.update(
            {
                "KAFKA_BOOTSTRAP_SERVERS": self.broker.bootstrap,
                "KAFKA_GROUP_ID": self.group,
                "SOURCE_TOPIC": self.topic,
                "RETRY_DELAYS": ",".join(self.retry_delays),
                "TIKTOK_ACCESS_TOKEN": self.emulator.token,
                "TIKTOK_PIXEL_CODE": self.emulator.pixel_code,
                "TIKTOK_API_URL": self.emulator.base_url,
            }
        )
        if self.registry is not None:
            env["SCHEMA_REGISTRY_URL"] = self.registry.url
        env.update(overrides)
        return env

    # -- traffic -------------------------------------------------------------------------
    def storefront(self, n: int, seed: int = 1) -> list[dict[str, Any]]:
        """``n`` realistic events with message ids unique to this run."""
        events = list(storefront_events(n, seed, datetime.now(UTC)))
        for i, event in enumerate(events):
            event["messageId"] = f"{self._prefix}-{seed}-{i}"
        return events

    def encode(self, event: Mapping[str, Any]) -> bytes:
        """``event`` as this run's connector reads it (framed when a registry is in use)."""
        return avro(event) if self.schema_id is None else avro_framed(event, self.schema_id)

    def produce_events(
        self,
        events: Iterable[dict[str, Any]],
        *,
        may_dead_letter: Iterable[str] = (),
        label: str = "event",
        partition: int | None = None,
    ) -> list[Produced]:
        """Encode and produce ``events`` (keyed by user); the mapping says where each ends."""
        events = list(events)
        now = time.time()
        reasons = tuple(may_dead_letter)
        values = [self.encode(e) for e in events]
        keys = [
            str(e.get("userId") or e.get("anonymousId") or i).encode() for i, e in enumerate(events)
        ]
        expectations = [expect_event(e, now, may_dead_letter=reasons) for e in events]
        self.events.extend(events)
        return self._produce(values, keys, expectations, label, partition)

    def produce_values(
        self,
        values: Sequence[bytes | None],
        expect: Expectation,
        *,
        label: str,
        partition: int | None = None,
    ) -> list[Produced]:
        """Produce raw ``values`` that all end as ``expect`` says."""
        return self._produce(list(values), None, [expect] * len(values), label, partition)

    def _produce(
        self,
        values: list[bytes | None],
        keys: list[bytes] | None,
        expectations: list[Expectation],
        label: str,
        partition: int | None,
    ) -> list[Produced]:
        producer = self._producer
        assert producer is not None, "the run is closed"
        positions: list[tuple[int, int] | None] = [None] * len(values)
        errors: list[str] = []

        def report(index: int) -> Any:
            def done(err: Any, msg: Any) -> None:
                if err is not None:
                    errors.append(str(err))
                else:
                    positions[index] = (msg.partition(), msg.offset())

            return done

        for index, value in enumerate(values):
            kwargs: dict[str, Any] = {"on_delivery": report(index)}
            if keys is not None:
                kwargs["key"] = keys[index]
            if partition is not None:
                kwargs["partition"] = partition
            while True:
                try:
                    producer.produce(self.topic, value, **kwargs)
                    break
                except BufferError:
                    producer.poll(0.05)
            producer.poll(0)
        left = producer.flush(60)
        assert not errors and not left, f"producing {label} failed: {errors or left}"
        made = []
        for index, position in enumerate(positions):
            assert position is not None
            made.append(
                Produced(position[0], position[1], expectations[index], f"{label} #{index}")
            )
        self.produced.extend(made)
        return made

    def delivered(self, label: str) -> Callable[[], bool]:
        """A predicate: every record produced under ``label`` that maps has been delivered.

        Fault tests produce a slice of events per step and wait for it: a fixed count of
        deliveries could be reached before the fault, or never once the stream is drained.
        """
        wanted = {
            p.expect.delivered_as[0]
            for p in self.produced
            if p.expect.delivered_as is not None and p.label.rsplit(" #", 1)[0] == label
        }
        assert wanted, f"nothing produced under {label!r} maps"

        def done() -> bool:
            return wanted <= {event_id for event_id, _ in self.accountant.deliveries()}

        return done

    def wait_more_deliveries(self, count: int, what: str, timeout: float = 60.0) -> None:
        """Wait until the emulator has accepted ``count`` more events than when called."""
        before = self.emulator.stats()["accepted_events"]
        wait_for(
            lambda: self.emulator.stats()["accepted_events"] >= before + count,
            timeout=timeout,
            what=what,
        )

    # -- connectors ----------------------------------------------------------------------
    def start(self, name: str | None = None, **overrides: str) -> ConnectorProcess:
        """Start `tiktok-capi run` for this run (``overrides`` of :meth:`env`)."""
        return self.connectors.start(self.env(**overrides), name)

    def running(self) -> list[ConnectorProcess]:
        """Connectors of this run that have not exited."""
        return [c for c in self.connectors.started if c.running]

    # -- results -------------------------------------------------------------------------
    @property
    def accountant(self) -> Accountant:
        """Reads the run's topics, offsets and emulator record."""
        if self._accountant is None:
            self._accountant = Accountant(
                self.broker,
                self.emulator,
                self.group,
                self.topic,
                self.retry_topics,
                self.dlq_topic,
                self.partitions,
            )
        return self._accountant

    def report(self, processes_left: Sequence[int] = (), *, fresh: bool = False) -> Report:
        """The accounting of everything produced so far, as observed now."""
        return self.accountant.report(self.produced, processes_left, fresh=fresh)

    def wait_settled(self, timeout: float) -> Report:
        """Wait until every produced record is resolved and committed (bounded); fails at once
        when a connector exits without being told to (see :meth:`check_alive`)."""
        return self.accountant.wait_settled(self.produced, timeout, self.check_alive)

    def check_alive(self) -> None:
        """Fail when a connector of this run exited although the test sent it no signal."""
        for connector in self.connectors.started:
            crash = connector.crashed()
            assert crash is None, crash
            if connector.running:
                connector.sample_rss()

    def peak_rss(self) -> int:
        """Highest RSS (bytes) of one connector with its workers, sampled while waiting."""
        return max((c.peak_rss for c in self.connectors.started), default=0)

    def capture_metrics(self) -> None:
        """Keep the ``/metrics`` page of every running connector for the leak scan."""
        for connector in self.running():
            with contextlib.suppress(httpx.HTTPError, AssertionError):  # not serving: no page
                self._metrics.append(connector.metrics())

    def finish(
        self,
        *,
        expect_status: int | None = 0,
        check: bool = True,
    ) -> Report:
        """Stop the run's connectors and check everything it wrote.

        SIGTERMs every running connector and waits for it (``expect_status``: its exit status,
        ``None`` to accept any), waits for every process of every connector of the run to end,
        then reconciles, scans for leaks and records the figures. With ``check`` (default)
        the invariant and the leak scan are asserted; the report is returned either way.
        """
        self.capture_metrics()
        statuses = []
        for connector in self.running():
            connector.terminate()
        for connector in self.connectors.started:
            statuses.append(connector.wait(SHUTDOWN_TIMEOUT_S))
        left = self.connectors.wait_none_left(PROCESS_EXIT_TIMEOUT_S)
        report = self.report(left, fresh=True)
        leaks = find_leaks(self.leak_sources(), pii_needles(self.events, token=self.emulator.token))
        self._record(report, len(leaks))
        if check:
            report.assert_ok()
            assert not leaks, f"{len(leaks)} leak(s): {leaks[:5]}"
            if expect_status is not None:
                last = self.connectors.started[-1].returncode
                assert last == expect_status, f"the last connector exited {last}"
        self.close()
        return report

    def leak_sources(self) -> dict[str, str]:
        """Every text the run wrote: logs, retry/dead-letter headers, emulator record, metrics."""
        accountant = self.accountant
        headers = [
            f"{k}={(v or b'').decode('utf-8', 'replace')}"
            for m in accountant.dead_letter_messages() + accountant.retry_messages()
            for k, v in (m.headers() or [])
        ]
        sources = {c.log_path.name: c.log_text() for c in self.connectors.started}
        sources["retry and dead-letter headers"] = "\n".join(headers)
        sources["emulator record"] = orjson.dumps(self.emulator.events()).decode()
        sources["metrics"] = "\n".join(self._metrics)
        return sources

    def _record(self, report: Report, leaks: int) -> None:
        figures = {
            "test": self.name,
            **report.figures(),
            "violations": len(report.violations),
            "leaks": leaks,
            "seconds": round(time.monotonic() - self._started, 1),
            "peak_rss_mb": round(self.peak_rss() / 2**20),
            "emulator_faults": self.emulator.stats().get("faults", {}),
            **self.notes,
        }
        FIGURES.append(figures)
        path = os.environ.get(FIGURES_ENV)
        if path:
            with Path(path).open("ab") as out:
                out.write(orjson.dumps(figures) + b"\n")

    def close(self) -> None:
        """Release the readers and the producer (idempotent)."""
        if self._accountant is not None:
            self._accountant.close()
            self._accountant = None
        producer, self._producer = self._producer, None
        if producer is not None:
            producer.flush(5)
            # Freed now, not whenever the cycle collector gets to it: a failed test's traceback
            # keeps the run (and so the producer's threads) alive otherwise.
            del producer
