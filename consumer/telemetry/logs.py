"""Process-wide logging: structured JSON (or text on a terminal), with a redaction safety net.

Code logs through the standard library, lazily (``log.info("sent %d events", n)``), and passes
context as ``extra=``: ``log.warning("dead-lettered", extra={"topic": t, "partition": p,
"offset": o, "event_id": e})``. :func:`configure` is called once at start-up by the commands.

- ``json``: one JSON object per line — ``ts`` (UTC, ISO 8601), ``level``, ``logger``,
  ``message``, then every ``extra`` field, then ``exc`` (the traceback) when there is one.
- ``text``: ``2026-01-02 03:04:05.678 INFO  tiktok_capi.consumer.loop  message  topic=...``.
- ``auto``: text when stderr is a terminal, else JSON (what Kubernetes and log shippers want).

The code must never log the access token or un-hashed PII. As a safety net, every rendered line
passes through :func:`redact`: registered secrets (:func:`register_secret`, e.g. the access
token), e-mail addresses and phone-number-looking strings are masked before they are written.
"""

from __future__ import annotations

import logging
import sys
import threading
from datetime import UTC, datetime
from typing import IO, Any, Final

import orjson

from tiktok_capi.mapping.pii import scrub

__all__ = [
    "JsonFormatter",
    "TextFormatter",
    "configure",
    "redact",
    "register_secret",
]

_HANDLER_NAME: Final = "tiktok-capi"
_LEVELS: Final = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}
# Libraries that are noisy at INFO/DEBUG (httpx logs every request; httpcore every socket event).
_QUIET_LOGGERS: Final = ("httpx", "httpcore", "urllib3", "hpack")

# Attributes every LogRecord has; anything else on a record came in through ``extra=``.
_RESERVED: Final = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys() | {"message", "asctime"}
)

_MASK_REDACTED: Final = "[redacted]"
_MASK_EMAIL: Final = "[email]"
_MASK_PHONE: Final = "[phone]"

_secrets_lock = threading.Lock()
_secrets: tuple[str, ...] = ()


def register_secret(value: str | None) -> None:
    """Mask ``value`` wherever it would appear in a log line from now on.

    Call it with the access token (and any password) as soon as settings are loaded. Values
    shorter than 4 characters are ignored (masking them would garble ordinary text).
    """
    global _secrets
    if value is None or len(value) < 4:
        return
    with _secrets_lock:
        if value not in _secrets:
            # Longest first, so a secret containing another is masked whole.
            _secrets = tuple(sorted((*_secrets, value), key=len, reverse=True))


def redact(text: str) -> str:
    """Return ``text`` with registered secrets, e-mails and phone-looking strings masked."""
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, _MASK_REDACTED)
    return scrub(text, email_mask=_MASK_EMAIL, phone_mask=_MASK_PHONE, digit_runs=False)


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _RESERVED and not k.startswith("_")}


def _timestamp(record: logging.LogRecord) -> str:
    moment = datetime.fromtimestamp(record.created, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, extra fields, exc."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": _timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in _extras(record).items():
            entry.setdefault(key, value)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exc"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        line = orjson.dumps(entry, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
        return redact(line)


class TextFormatter(logging.Formatter):
    """Human-readable lines for a terminal: time, level, logger, message, key=value extras."""

    def format(self, record: logging.LogRecord) -> str:
        moment = datetime.fromtimestamp(record.created).astimezone()
        parts = [
            moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d}",
            f"{record.levelname:<7}",
            record.name,
            record.getMessage(),
        ]
        extras = " ".join(f"{k}={v}" for k, v in _extras(record).items())
        line = "  ".join(parts) + (f"  {extras}" if extras else "")
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        if record.stack_info:
            line += "\n" + self.formatStack(record.stack_info)
        return redact(line)


def _formatter(fmt: str, stream: IO[str]) -> logging.Formatter:
    if fmt == "auto":
        isatty = getattr(stream, "isatty", None)
        fmt = "text" if isatty is not None and isatty() else "json"
    if fmt == "json":
        return JsonFormatter()
    if fmt == "text":
        return TextFormatter()
    raise ValueError(f"unknown log format {fmt!r} (use auto, json or text)")


def configure(level: str, fmt: str, *, stream: IO[str] | None = None) -> None:
    """Configure the root logger once for the whole process; calling again reconfigures.

    Args:
        level: ``debug``, ``info``, ``warning`` or ``error`` (case-insensitive).
        fmt: ``json``, ``text`` or ``auto`` (text when ``stream`` is a terminal, else JSON).
        stream: where lines go; stderr by default (looked up at each call, so tests that
            capture stderr see the lines).

    Raises:
        ValueError: unknown level or format.
    """
    numeric = _LEVELS.get(level.strip().lower())
    if numeric is None:
        raise ValueError(f"unknown log level {level!r} (use debug, info, warning or error)")
    target = sys.stderr if stream is None else stream
    handler = logging.StreamHandler(target)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(_formatter(fmt.strip().lower(), target))
    root = logging.getLogger()
    for old in list(root.handlers):
        if old.get_name() == _HANDLER_NAME:
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric)
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(numeric, logging.WARNING))
