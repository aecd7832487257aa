"""Fixtures of the fault matrix: a fault run over the shared broker or a broker behind a proxy.

The fixture modules live in ``tests/fixtures/``; importing their fixtures here registers them
for this folder only (``pytest_plugins`` belongs to the root conftest).
"""

from __future__ import annotations

import gc
import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.faults.scale import SOAK
from tests.faults.scenario import FIGURES, FIGURES_ENV, FaultRun
from tests.fixtures.processes import ConnectorRunner, connectors
from tests.fixtures.proxied_broker import proxied_broker
from tests.fixtures.proxy import tcp_proxy

__all__ = ["connectors", "fault_run", "proxied_broker", "tcp_proxy"]


@pytest.fixture(autouse=True)
def _garbage_collected() -> Iterator[None]:
    """Collect garbage after each test: a socket or file the test left open then warns (an
    error here) in the test that leaked it, not in whichever test the collector next runs."""
    yield
    gc.collect()


@pytest.fixture
def fault_run(
    request: pytest.FixtureRequest,
    broker: Any,
    emulator_factory: Callable[..., Any],
    connectors: ConnectorRunner,
) -> Iterator[Callable[..., FaultRun]]:
    """``make(partitions=2, retry_delays=("1s", "2s"), broker=None, registry=None, **emulator)``:
    a :class:`FaultRun` with an emulator of its own (a token unique to the run); the shared
    broker unless another (a proxied one) is given."""
    made: list[FaultRun] = []

    def make(
        *,
        partitions: int = 2,
        retry_delays: tuple[str, ...] = ("1s", "2s"),
        broker_helper: Any = None,
        registry: Any = None,
        **emulator_fields: Any,
    ) -> FaultRun:
        emulator_fields.setdefault("token", f"tok-{uuid.uuid4().hex}")
        run = FaultRun(
            request.node.name,
            broker=broker_helper if broker_helper is not None else broker,
            emulator=emulator_factory(**emulator_fields),
            connectors=connectors,
            partitions=partitions,
            retry_delays=retry_delays,
            registry=registry,
        )
        made.append(run)
        return run

    try:
        yield make
    finally:
        for run in made:
            run.close()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Under `make soak` (or with TIKTOK_CAPI_FAULT_FIGURES set), print each run's figures."""
    if not FIGURES or not (SOAK or os.environ.get(FIGURES_ENV)):
        return
    columns = ("records", "delivered", "duplicates", "skipped", "dead_lettered", "lost",
               "retried", "processes_left", "leaks", "seconds")  # fmt: skip
    terminalreporter.section("fault runs")
    terminalreporter.write_line(f"{'test':<66}" + "".join(f"{c[:9]:>10}" for c in columns))
    for figures in FIGURES:
        cells = "".join(f"{figures.get(c, ''):>10}" for c in columns)
        terminalreporter.write_line(f"{figures['test'][:65]:<66}{cells}")
