"""The emulator: its lifecycle, its control endpoints, and routing to the track endpoint.

Endpoints:
    POST /open_api/v1.3/event/track/   the Events API (faults, auth, validation, recording)
    POST /open_api/v1.3/event/track    HTTP 308 to the path with the trailing slash
    GET  /_emulator/stats              counters (`Emulator.stats`)
    GET  /_emulator/events             accepted events (`Emulator.events`); ``?limit=N``: last N
    GET  /_emulator/faults             faults in force
    POST /_emulator/faults             replace the faults (JSON: `FaultConfig` fields, or
                                       ``revoke_for_s``); unnamed fields are off
    POST /_emulator/reset              forget counters, events and deduplication keys
    GET  /_emulator/health             ``{"status": "ok"}``

How the track endpoint answers: `emulator.track`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

import orjson

from tiktok_capi.emulator import contract
from tiktok_capi.emulator.config import (
    EmulatorConfig,
    FaultConfig,
    InvalidFaults,
    faults_from_mapping,
)
from tiktok_capi.emulator.faults import FaultInjector
from tiktok_capi.emulator.recorder import Recorder
from tiktok_capi.emulator.server import HTTPServer, Reply
from tiktok_capi.emulator.store import Store
from tiktok_capi.emulator.track import TrackEndpoint
from tiktok_capi.emulator.validate import Validator

__all__ = ["Emulator"]

log = logging.getLogger(__name__)

_NOT_FOUND = Reply(404, b'{"error": "not found"}')


class Emulator:
    """A TikTok Events API emulator on a loopback port, served by background threads.

    Use as a context manager, or call `start` and `stop`::

        with Emulator(EmulatorConfig(token="t", pixel_code="P")) as emu:
            httpx.post(emu.track_url, headers={"Access-Token": "t"}, json={...})
            assert emu.stats()["accepted_events"] == 1

    Args:
        config: what to listen on and accept, and the faults in force at first.
        wall_clock: Unix time (event-time window, token-revocation window).
        monotonic: monotonic clock (QPS limit, record flushing).
    """

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        *,
        wall_clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config or EmulatorConfig()
        self.max_body_bytes = self.config.max_body_bytes
        self._wall_clock = wall_clock
        self._validator = Validator(
            self.config.pixel_code, self.config.max_event_age_s, self.config.max_future_s
        )
        self._injector = FaultInjector(
            self.config.faults, self.config.seed, wall_clock=wall_clock, monotonic=monotonic
        )
        self._monotonic = monotonic
        self._recorder: Recorder | None = None
        self._store = Store(self.config.max_events_in_memory, None)
        self._port = self.config.port
        self._stopping = threading.Event()
        self._server: HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._track = TrackEndpoint(
            self.config.token,
            self._validator,
            self._injector,
            self._store,
            self._stopping,
            wall_clock,
        )

    # --- lifecycle --------------------------------------------------------------------------------

    def start(self) -> str:
        """Bind, serve in a background thread and return the base URL (``http://host:port``).

        After `stop`, `start` serves again on the same port with the same state (counters,
        events, faults): stop and start to play a destination that is down for a while.

        Raises:
            OSError: the address cannot be bound (port in use, bad host).
        """
        if self._server is not None:
            return self.base_url
        self._stopping.clear()
        server = HTTPServer(self.config.host, self._port, self)
        self._port = server.server_address[1]
        if self.config.record_path is not None:
            try:
                self._recorder = Recorder(self.config.record_path, monotonic=self._monotonic)
            except OSError:
                server.server_close()
                raise
            self._store.recorder = self._recorder
        self._server = server
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="emulator-accept",
            daemon=True,
        )
        self._thread.start()
        log.info("TikTok emulator listening on %s", self.base_url)
        return self.base_url

    def stop(self) -> None:
        """Stop serving, end hanging requests and connection threads, flush the record file."""
        self._stopping.set()
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.close()
        if thread is not None:
            thread.join(5.0)
        recorder, self._recorder = self._recorder, None
        self._store.recorder = None
        if recorder is not None:
            recorder.close()

    def __enter__(self) -> Emulator:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- addresses --------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """``http://host:port`` of the running emulator."""
        if self._server is None:
            raise RuntimeError("the emulator is not running; call start() first")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def track_url(self) -> str:
        """Full URL of the ``event/track`` endpoint."""
        return self.base_url + contract.TRACK_PATH

    @property
    def token(self) -> str:
        """The access token the emulator accepts."""
        return self.config.token

    @property
    def pixel_code(self) -> str:
        """The pixel code (``event_source_id``) the emulator accepts."""
        return self.config.pixel_code

    # --- state ------------------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Counters, as ``GET /_emulator/stats`` answers them: ``requests``,
        ``accepted_requests``, ``rejected_requests``, ``accepted_events``, ``unique_events``,
        ``duplicates``, ``custom_events``, ``test_events``, ``events_in_memory``,
        ``rejections_by_code`` (code as a string -> requests), ``events_by_name`` and
        ``faults`` (kind -> requests)."""
        return self._store.stats()

    def events(self) -> list[dict[str, Any]]:
        """Accepted events, oldest first, each tagged with ``request_id``, ``event_source``,
        ``event_source_id``, ``duplicate`` and, when sent, ``test_event_code``."""
        return self._store.events()

    def reset(self) -> None:
        """Forget counters, events and deduplication keys (faults and record file are kept)."""
        self._store.reset()

    @property
    def faults(self) -> FaultConfig:
        """The faults in force."""
        return self._injector.faults

    def set_faults(self, faults: FaultConfig | None = None, **fields: Any) -> FaultConfig:
        """Replace the faults in force by ``faults``, or by a `FaultConfig` built from ``fields``
        (which may use ``revoke_for_s``). No argument turns every fault off.

        Raises:
            InvalidFaults: unknown field or bad value.
        """
        if faults is not None and fields:
            raise TypeError("give a FaultConfig or keyword fields, not both")
        if faults is None:
            faults = faults_from_mapping(fields, now=self._wall_clock)
        self._injector.configure(faults)
        return faults

    # --- HTTP -------------------------------------------------------------------------------------

    def post(self, path: str, headers: Any, body: bytes) -> Reply:
        """Answer a POST (called by the server's connection threads)."""
        if path == contract.TRACK_PATH:
            return self._track.answer(headers.get("Access-Token"), body)
        if path == contract.TRACK_PATH.rstrip("/"):
            # UNVERIFIED how TikTok answers without the slash; a permanent redirect that keeps
            # the method (308) is what strict-slash web frameworks answer.
            return Reply(308, b"", "text/plain", (("Location", contract.TRACK_PATH),))
        if path == "/_emulator/reset":
            self.reset()
            return Reply(200, b'{"status": "ok"}')
        if path == "/_emulator/faults":
            return self._post_faults(body)
        return _NOT_FOUND

    def get(self, path: str, query: str) -> Reply:
        """Answer a GET (called by the server's connection threads)."""
        if path == "/_emulator/stats":
            return Reply(200, orjson.dumps(self.stats()))
        if path == "/_emulator/events":
            events = self.events()
            limit = _query_int(query, "limit")
            if limit is not None:
                events = events[-limit:] if limit > 0 else []
            return Reply(200, orjson.dumps(events))
        if path == "/_emulator/faults":
            return Reply(200, orjson.dumps(self.faults.as_dict()))
        if path == "/_emulator/health":
            return Reply(200, b'{"status": "ok"}')
        if path in (contract.TRACK_PATH, contract.TRACK_PATH.rstrip("/")):
            return Reply(405, b'{"error": "method not allowed"}', headers=(("Allow", "POST"),))
        return _NOT_FOUND

    def _post_faults(self, body: bytes) -> Reply:
        try:
            spec = orjson.loads(body or b"{}")
            if not isinstance(spec, dict):
                raise InvalidFaults("the body must be a JSON object of fault fields")
            faults = self.set_faults(**spec)
        except (orjson.JSONDecodeError, InvalidFaults) as exc:
            return Reply(400, orjson.dumps({"error": str(exc)}))
        return Reply(200, orjson.dumps(faults.as_dict()))


def _query_int(query: str, name: str) -> int | None:
    for part in query.split("&"):
        key, _, value = part.partition("=")
        if key == name:
            try:
                return int(value)
            except ValueError:
                return None
    return None
