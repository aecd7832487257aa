"""Emulator throughput: events/s accepted in 1,000-event requests.

The emulator runs in this process (its server threads share one interpreter, so it uses at most
one core); the client runs in a separate process (``multiprocessing``, spawn) with a few
keep-alive connections sending pre-serialised bodies, so the client's cost does not count
against the emulator. Each event looks like what the mapping sends: hashed user data, page,
properties with two contents.

The figure that matters when the emulator shares a machine with the connector (``bench.e2e``)
is its CPU time per accepted event: ``time.process_time`` of this process (the emulator's
threads; the client is another process) while the client sends, divided by the events. The
machine is usually shared, so each configuration runs ``--repeat`` times and the best and the
median are printed. Run: ``python -m bench.emulator [--events N] [--repeat N] [--only MODE]``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import multiprocessing
import os
import resource
import statistics
import tempfile
import threading
import time
from typing import Any

import httpx
import orjson

from bench.internals import TRACK_PATH, Emulator, EmulatorConfig, tuned_for_serving

TOKEN = "bench-token"  # noqa: S105 - the local emulator's token, not a secret
PIXEL = "BENCHPIXEL"
BATCH = 1000


def _event(index: int, now: int) -> dict[str, Any]:
    digest = hashlib.sha256(str(index).encode()).hexdigest()
    return {
        "event": "CompletePayment" if index % 3 else "ViewContent",
        "event_time": now,
        "event_id": f"bench-{index:012d}",
        "user": {
            "email": digest,
            "phone": digest,
            "external_id": digest,
            "first_name": digest,
            "zip_code": digest,
            "city": "paris",
            "country": "fr",
            "ip": "203.0.113.7",
            "user_agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/124.0",
            "locale": "en-US",
            "ttp": "2Xy9Zk3LmNoPqRsT",
        },
        "properties": {
            "currency": "USD",
            "value": 59.9,
            "order_id": f"order-{index}",
            "content_type": "product",
            "contents": [
                {"content_id": "sku-1", "content_name": "Shoe", "price": 49.9, "quantity": 1},
                {"content_id": "sku-2", "content_name": "Socks", "price": 10.0, "quantity": 1},
            ],
        },
        "page": {
            "url": "https://shop.example/checkout?step=3",
            "referrer": "https://shop.example/",
        },
        "limited_data_use": False,
    }


def _bodies(requests: int, now: int) -> list[bytes]:
    return [
        orjson.dumps(
            {
                "event_source": "web",
                "event_source_id": PIXEL,
                "data": [_event(r * BATCH + i, now) for i in range(BATCH)],
            }
        )
        for r in range(requests)
    ]


def _client(url: str, requests: int, connections: int, result: Any) -> None:
    """Client process: send ``requests`` distinct bodies over ``connections`` connections."""
    bodies = _bodies(requests, int(time.time()))
    headers = {"Access-Token": TOKEN, "Content-Type": "application/json"}
    failures: list[str] = []
    lock = threading.Lock()
    next_index = iter(range(requests))

    def worker() -> None:
        with httpx.Client(timeout=30.0) as client:
            while True:
                with lock:
                    index = next(next_index, None)
                if index is None:
                    return
                answer = client.post(url, content=bodies[index], headers=headers)
                if answer.status_code != 200 or answer.json()["code"] != 0:
                    failures.append(answer.text[:200])

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.put((time.perf_counter() - started, failures, len(bodies[0])))


def run(events: int, connections: int, record: bool, gc_tuned: bool = True) -> dict[str, Any]:
    """Measure one configuration; returns its figures.

    ``gc_tuned``: serve with the garbage-collector settings of ``tiktok-capi emulate``
    (`emulator.gctune`); False measures an emulator started in-process with the defaults.
    """
    requests = max(1, events // BATCH)
    with tempfile.TemporaryDirectory() as tmp:
        record_path = os.path.join(tmp, "events.jsonl") if record else None
        config = EmulatorConfig(token=TOKEN, pixel_code=PIXEL, record_path=record_path)
        tuning = tuned_for_serving() if gc_tuned else contextlib.nullcontext()
        with tuning, Emulator(config) as emulator:
            context = multiprocessing.get_context("spawn")
            result = context.Queue()
            client = context.Process(
                target=_client,
                args=(emulator.base_url + TRACK_PATH, requests, connections, result),
            )
            cpu_before = time.process_time()
            client.start()
            elapsed, failures, body_bytes = result.get()
            client.join()
            cpu = time.process_time() - cpu_before
            stats = emulator.stats()
        record_bytes = os.path.getsize(record_path) if record_path else 0
    accepted = stats["accepted_events"]
    return {
        "record": record,
        "gc_tuned": gc_tuned,
        "requests": requests,
        "accepted_events": accepted,
        "failures": len(failures),
        "seconds": round(elapsed, 3),
        "events_per_s": round(accepted / elapsed),
        "emulator_cpu_s": round(cpu, 3),
        "events_per_cpu_s": round(accepted / cpu) if cpu else None,
        "cpu_us_per_event": round(cpu / accepted * 1e6, 2) if accepted else None,
        "request_bytes": body_bytes,
        "record_bytes": record_bytes,
    }


# name: (label, record, GC tuned as ``tiktok-capi emulate`` does)
CONFIGURATIONS = {
    "memory-default-gc": ("memory only, default GC (in-process)", False, False),
    "memory": ("memory only, emulate's GC settings", False, True),
    "record": ("with --record, emulate's GC settings", True, True),
}


def _summary(label: str, runs: list[dict[str, Any]]) -> str:
    cpu = sorted(run["cpu_us_per_event"] for run in runs)
    rates = sorted((run["events_per_s"] for run in runs), reverse=True)
    failures = sum(run["failures"] for run in runs)
    median_cpu = round(statistics.median(cpu), 2)
    return (
        f"  {label}: emulator CPU per accepted event best {cpu[0]} µs, median "
        f"{median_cpu} µs ({', '.join(map(str, cpu))}); events/s accepted best "
        f"{rates[0]:,}, median {round(statistics.median(rates)):,}; {failures} failed requests"
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.emulator", description=__doc__)
    parser.add_argument(
        "--events", type=int, default=200_000, help="events per run (default 200,000)"
    )
    parser.add_argument(
        "--connections",
        type=int,
        default=4,
        help="client connections (default 4, the connector's MAX_IN_FLIGHT_REQUESTS)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per configuration (default 3)")
    parser.add_argument(
        "--only",
        choices=tuple(CONFIGURATIONS),
        help="one configuration (default: all)",
    )
    args = parser.parse_args()
    print(f"emulator benchmark: {args.events:,} events in {BATCH}-event requests, client in a")
    print(
        f"separate process over {args.connections} keep-alive connections; cores: {os.cpu_count()}"
        f"; {args.repeat} runs per configuration"
    )
    names = [args.only] if args.only else list(CONFIGURATIONS)
    body_bytes = 0
    for name in names:
        label, record, gc_tuned = CONFIGURATIONS[name]
        runs = [run(args.events, args.connections, record, gc_tuned) for _ in range(args.repeat)]
        body_bytes = runs[0]["request_bytes"]
        print(_summary(label, runs))
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"  {body_bytes:,} bytes per request; peak RSS of the emulator process: {peak_mib:.0f} MiB"
    )
    print("  target: >= 50,000 events/s on one core")


if __name__ == "__main__":
    main()
