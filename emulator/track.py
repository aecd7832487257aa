"""Answering ``POST /open_api/v1.3/event/track/``: faults, then the token, then validation,
then recording — in TikTok's answer shape.

Business answers are ``{"code", "message", "request_id", "data"}`` with HTTP 200 (TikTok answers
business errors with 200 too); throttling answers carry ``Retry-After`` (HTTP 429 by default);
injected 5xx carry an HTML page, as a gateway's do; canned answers are sent exactly as given. A
request whose answer is to be cut is processed (and its events recorded) like any other: only the
answer is cut off mid-way.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Callable
from datetime import UTC, datetime

import orjson

from tiktok_capi.emulator import contract
from tiktok_capi.emulator.faults import FaultInjector
from tiktok_capi.emulator.server import DROP, Reply
from tiktok_capi.emulator.store import Store
from tiktok_capi.emulator.validate import Rejection, Validator

__all__ = ["TrackEndpoint"]

_GATEWAY_PAGES = {
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Time-out",
}


class TrackEndpoint:
    """The track endpoint of one emulator (thread-safe: called by every connection thread).

    Args:
        token: the only access token accepted.
        validator: checks bodies against the contract.
        injector: decides each request's fault.
        store: counts and records.
        stopping: set when the emulator stops; ends latency and hangs early.
        wall_clock: Unix time (event-time window, request ids).
    """

    def __init__(
        self,
        token: str,
        validator: Validator,
        injector: FaultInjector,
        store: Store,
        stopping: threading.Event,
        wall_clock: Callable[[], float],
    ) -> None:
        self._token = token
        self._validator = validator
        self._injector = injector
        self._store = store
        self._stopping = stopping
        self._wall_clock = wall_clock
        self._request_ids = itertools.count(1)
        # One request checked and recorded at a time: the interpreter lock runs one at a time
        # anyway, and interleaving two 1,000-event parse trees costs more CPU per event (caches,
        # collector): ~5-10% in bench.emulator over 4 connections. Faults wait outside it.
        self._checking = threading.Lock()
        self._instance = os.urandom(3).hex().upper()

    def answer(self, token: str | None, body: bytes) -> Reply:
        """The reply to one request with ``Access-Token`` ``token`` and (decoded) ``body``."""
        store = self._store
        store.count_request()
        decision = self._injector.decide()
        if decision.spiked:
            store.count_fault("spike")
        if decision.latency_s > 0:
            store.count_fault("latency")
            if self._stopping.wait(decision.latency_s):
                return DROP
        kind = decision.kind
        if kind == "cut":
            store.count_fault(kind)
            return self._accept(token, body).cut()
        if kind is not None:
            store.count_fault(kind)
            if kind == "drop":
                return DROP
            if kind == "hang":
                self._stopping.wait(decision.hang_s)
                return DROP
            if kind == "revoked":
                return self._business(contract.TOKEN_INVALID)
            if kind in ("qps_limit", "throttle"):
                retry_after = (("Retry-After", str(decision.retry_after_s)),)
                return self._business(
                    contract.THROTTLED, status=decision.status, headers=retry_after
                )
            if kind == "answer":
                return Reply(decision.status, decision.body.encode(), decision.content_type)
            return _gateway_error(decision.status)
        return self._accept(token, body)

    def _accept(self, token: str | None, body: bytes) -> Reply:
        """Check the token and the body; record and answer code 0, or the business error."""
        store = self._store
        if not token:
            return self._business(contract.TOKEN_EMPTY)
        if token != self._token:
            return self._business(contract.TOKEN_INVALID)
        with self._checking:
            result = self._validator.check(body, self._wall_clock())
            if isinstance(result, Rejection):
                return self._business(result.code, result.message)
            request_id = self._next_request_id()
            store.accept(result, request_id, body)
        return Reply(
            200,
            b'{"code":0,"message":"OK","request_id":"' + request_id.encode() + b'","data":{}}',
        )

    def _business(
        self,
        code: int,
        message: str | None = None,
        *,
        status: int = 200,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> Reply:
        self._store.count_rejection(code)
        answer = {
            "code": code,
            "message": message if message is not None else contract.MESSAGES[code],
            "request_id": self._next_request_id(),
            "data": {},
        }
        return Reply(status, orjson.dumps(answer), headers=headers)

    def _next_request_id(self) -> str:
        # Like TikTok's: a timestamp, then what makes it unique (this emulator, a counter).
        stamp = datetime.fromtimestamp(self._wall_clock(), UTC).strftime("%Y%m%d%H%M%S")
        return f"{stamp}{self._instance}{next(self._request_ids):010X}"


def _gateway_error(status: int) -> Reply:
    title = _GATEWAY_PAGES.get(status, "Server Error")
    page = (
        f"<html>\r\n<head><title>{status} {title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{status} {title}</h1></center>\r\n<hr><center>nginx</center>\r\n"
        "</body>\r\n</html>\r\n"
    )
    return Reply(status, page.encode(), "text/html")
