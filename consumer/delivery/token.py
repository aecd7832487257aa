"""The access token every request carries, and its rotation without a restart.

With ``TIKTOK_ACCESS_TOKEN_FILE`` the token lives in a file, usually a Kubernetes Secret mounted
as a volume. The kubelet updates such a volume by writing the new content to a fresh directory
and swapping a symlink atomically, so the file is re-read *by path*: :class:`FileToken` looks at
the file's identity (``os.stat`` through the symlinks: device, inode, size, modification time)
at most once a second and reads it again when that changed. A request — or the probe of a
destination paused for auth — then carries the new token; nothing restarts.

Every token read is registered with the log redaction before it is used, and none is ever
logged: the log says only that the token changed. A file that cannot be read or is empty keeps
the last good token (with one warning), so a half-finished rotation never sends an empty one.

:class:`TokenAuth` puts the current token in the ``Access-Token`` header of each request
(an ``httpx.Auth``, the client's seam for credentials).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Generator
from typing import Final, Protocol

import httpx

from tiktok_capi.consumer.config.settings import TikTokSettings, read_token_file
from tiktok_capi.consumer.telemetry.logs import register_secret

__all__ = ["AccessToken", "FileToken", "StaticToken", "TokenAuth", "token_of"]

log = logging.getLogger(__name__)

_CHECK_INTERVAL_S: Final = 1.0


class AccessToken(Protocol):
    """Where the current access token comes from (thread-safe)."""

    def value(self) -> str:
        """The token to send now."""


class StaticToken:
    """The token of ``TIKTOK_ACCESS_TOKEN``: the same for the whole run."""

    def __init__(self, token: str) -> None:
        self._token = token

    def value(self) -> str:
        """The token."""
        return self._token


class FileToken:
    """The token in a file, read again whenever the file changes.

    Args:
        path: ``TIKTOK_ACCESS_TOKEN_FILE``.
        initial: the token read at start-up (settings), used until the file changes.
        check_interval_s: the least time between two looks at the file.
        clock: monotonic seconds.
        on_new: called with each new token before it is used (the log redaction).
    """

    def __init__(
        self,
        path: str,
        initial: str,
        *,
        check_interval_s: float = _CHECK_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
        on_new: Callable[[str], None] = register_secret,
    ) -> None:
        self._path = path
        self._token = initial
        self._interval = check_interval_s
        self._clock = clock
        self._on_new = on_new
        self._lock = threading.Lock()
        self._checked = clock()
        self._identity = self._stat()
        self._failing = False
        on_new(initial)

    def _stat(self) -> tuple[int, int, int, int] | None:
        try:
            st = os.stat(self._path)
        except OSError:
            return None
        return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)

    def value(self) -> str:
        """The current token; the file is looked at again when ``check_interval_s`` passed."""
        with self._lock:
            now = self._clock()
            if now - self._checked >= self._interval:
                self._checked = now
                self._refresh()
            return self._token

    def _refresh(self) -> None:
        identity = self._stat()
        if identity is not None and identity == self._identity:
            return
        try:
            token = read_token_file(self._path)
        except ValueError as exc:
            if not self._failing:
                self._failing = True
                log.warning(
                    "TIKTOK_ACCESS_TOKEN_FILE %s: %s; keeping the last token", self._path, exc
                )
            return
        self._identity = identity
        self._failing = False
        if token != self._token:
            self._on_new(token)  # masked in logs before anything can print it
            self._token = token
            log.info("TIKTOK_ACCESS_TOKEN_FILE %s changed: sending the new token", self._path)


def token_of(settings: TikTokSettings) -> AccessToken:
    """The token source ``settings`` call for: the file when one is set."""
    if settings.access_token_file:
        return FileToken(settings.access_token_file, settings.access_token.get_secret_value())
    return StaticToken(settings.access_token.get_secret_value())


class TokenAuth(httpx.Auth):
    """Sets ``Access-Token`` on every request from an :class:`AccessToken`."""

    def __init__(self, token: AccessToken) -> None:
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Access-Token"] = self._token.value()
        yield request
