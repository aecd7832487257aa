"""Strict validation of an ``event/track`` request body, as TikTok's Events API 2.0 does it.

Pure: bytes and the current time in, a `Batch` (accepted) or a `Rejection` (code and message)
out. A request with one invalid event is rejected as a whole, and the message names the first
offending path, e.g. ``data.3.event_id: not a valid string``.

Rules (documented in ``docs/emulator.md``): top level ``event_source`` (web, app, offline, crm),
``event_source_id`` and ``data`` (1 to 1,000 events) are required; each event needs ``event``
(string) and ``event_time`` (integer Unix seconds within the configured window); ``event_id``
and ``content_id`` are strings; ``user.email``, ``user.phone``, ``user.external_id`` (string or
array of strings), ``first_name``, ``last_name`` and ``zip_code`` must be SHA-256 hex (else
40062); ``page.url`` is required for web events; ``currency`` is an ISO 4217 code; numbers are
numbers. A ``null`` optional field counts as absent. Fields TikTok does not document are
accepted as they are.

The hot path (`emulator.fastcheck`) checks each field across all the events of a request at
once with C-level built-ins and says only yes or no; the per-event walk below runs only for a
request it refused, to name the offending field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from tiktok_capi.emulator import contract
from tiktok_capi.emulator.fastcheck import data_ok

__all__ = ["Batch", "Rejection", "Validator"]

_HEX = "0123456789abcdefABCDEF"
_HASHED_ONE_OR_MANY = contract.HASHED_USER_LIST_FIELDS
_HASHED_ONE = contract.HASHED_USER_FIELDS
_PLAIN_USER = contract.PLAIN_USER_FIELDS
_PLAIN_PROPERTIES = contract.PLAIN_PROPERTY_FIELDS
_PLAIN_CONTENT = contract.PLAIN_CONTENT_FIELDS
_CONTENT_TYPES = contract.CONTENT_TYPES


@dataclass(frozen=True, slots=True)
class Rejection:
    """A request TikTok would refuse: its business ``code`` and ``message``."""

    code: int
    message: str


@dataclass(frozen=True, slots=True)
class Batch:
    """A valid request: its envelope and its events (the parsed dicts, in request order)."""

    event_source: str
    event_source_id: str
    test_event_code: str | None
    events: list[dict[str, Any]]


class _Invalid(Exception):
    def __init__(self, code: int, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.code = code


def _not_string(path: str) -> _Invalid:
    return _Invalid(contract.INVALID_PARAMS, path, "not a valid string")


def _missing(path: str) -> _Invalid:
    return _Invalid(contract.INVALID_PARAMS, path, "missing data for required field")


def _is_number(value: object) -> bool:
    kind = type(value)
    return kind is int or kind is float


class Validator:
    """Validates request bodies for one pixel and one event-time window.

    Args:
        pixel_code: the only ``event_source_id`` accepted (others: 40001).
        max_event_age_s: oldest accepted ``event_time``, in seconds before ``now``.
        max_future_s: newest accepted ``event_time``, in seconds after ``now``.
    """

    __slots__ = ("_max_age", "_max_future", "_pixel_code")

    def __init__(self, pixel_code: str, max_event_age_s: int, max_future_s: int) -> None:
        self._pixel_code = pixel_code
        self._max_age = max_event_age_s
        self._max_future = max_future_s

    def check(self, body: bytes, now: float) -> Batch | Rejection:
        """Validate one request body against the contract at time ``now`` (Unix seconds).

        Returns:
            `Batch` when TikTok would accept every event, else the `Rejection` of the request.
        """
        try:
            request = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            return Rejection(contract.INVALID_PARAMS, f"Invalid JSON body: {exc}")
        try:
            return self._check_request(request, now)
        except _Invalid as exc:
            return Rejection(exc.code, str(exc))

    def _check_request(self, request: Any, now: float) -> Batch | Rejection:
        if type(request) is not dict:
            raise _Invalid(contract.INVALID_PARAMS, "body", "not a valid object")
        source = request.get("event_source")
        if source is None:
            raise _missing("event_source")
        if type(source) is not str or source not in contract.EVENT_SOURCES:
            raise _Invalid(
                contract.INVALID_PARAMS, "event_source", "must be one of: app, crm, offline, web"
            )
        source_id = request.get("event_source_id")
        if source_id is None:
            raise _missing("event_source_id")
        if type(source_id) is not str:
            raise _not_string("event_source_id")
        test_code = request.get("test_event_code")
        if test_code is not None and type(test_code) is not str:
            raise _not_string("test_event_code")
        partner = request.get("partner_name")
        if partner is not None and type(partner) is not str:
            raise _not_string("partner_name")
        if source_id != self._pixel_code:
            message = contract.MESSAGES[contract.NO_PERMISSION].format(pixel=source_id)
            return Rejection(contract.NO_PERMISSION, message)
        data = request.get("data")
        if data is None:
            raise _missing("data")
        if type(data) is not list:
            raise _Invalid(contract.INVALID_PARAMS, "data", "not a valid list")
        if not data:
            raise _Invalid(contract.INVALID_PARAMS, "data", "shorter than minimum length 1")
        if len(data) > contract.MAX_EVENTS_PER_REQUEST:
            message = contract.MESSAGES[contract.INVALID_BATCH_SIZE].format(n=len(data))
            return Rejection(contract.INVALID_BATCH_SIZE, message)
        oldest = now - self._max_age
        newest = now + self._max_future
        web = source == "web"
        if not data_ok(data, oldest, newest, web):
            # Slow path, only for an invalid request: walk again to name the first offending
            # path. Finding nothing would mean the fast path was stricter than these rules:
            # these rules decide (a property test keeps the two paths in agreement).
            for index, event in enumerate(data):
                self._check_event(event, f"data.{index}", oldest, newest, web)
        return Batch(source, source_id, test_code, data)

    def _check_event(self, event: Any, at: str, oldest: float, newest: float, web: bool) -> None:
        if type(event) is not dict:
            raise _Invalid(contract.INVALID_PARAMS, at, "not a valid object")
        name = event.get("event")
        if name is None:
            raise _missing(at + ".event")
        if type(name) is not str:
            raise _not_string(at + ".event")
        if not name:
            raise _Invalid(contract.INVALID_PARAMS, at + ".event", "must not be empty")
        when = event.get("event_time")
        if when is None:
            raise _missing(at + ".event_time")
        if type(when) is not int:
            raise _Invalid(contract.INVALID_PARAMS, at + ".event_time", "not a valid integer")
        if when > newest:
            raise _Invalid(contract.INVALID_PARAMS, at + ".event_time", "is in the future")
        if when < oldest:
            raise _Invalid(
                contract.INVALID_PARAMS, at + ".event_time", "is older than the accepted window"
            )
        event_id = event.get("event_id")
        if event_id is not None and type(event_id) is not str:
            raise _not_string(at + ".event_id")
        user = event.get("user")
        if user is not None:
            _check_user(user, at + ".user")
        properties = event.get("properties")
        if properties is not None:
            _check_properties(properties, at + ".properties")
        page = event.get("page")
        if page is not None:
            _check_page(page, at + ".page", web)
        elif web:
            raise _missing(at + ".page")
        limited = event.get("limited_data_use")
        if limited is not None and type(limited) is not bool:
            raise _Invalid(contract.INVALID_PARAMS, at + ".limited_data_use", "not a valid boolean")


def _check_hashed(value: Any, path: str) -> None:
    if type(value) is not str:
        raise _not_string(path)
    if len(value) != 64 or value.strip(_HEX):
        raise _Invalid(
            contract.PII_NOT_HASHED, path, "must be hashed with SHA-256 (64 hexadecimal characters)"
        )


def _check_user(user: Any, at: str) -> None:
    if type(user) is not dict:
        raise _Invalid(contract.INVALID_PARAMS, at, "not a valid object")
    for key in _HASHED_ONE_OR_MANY:
        value = user.get(key)
        if value is None:
            continue
        if type(value) is list:
            for index, item in enumerate(value):
                _check_hashed(item, f"{at}.{key}.{index}")
        else:
            _check_hashed(value, f"{at}.{key}")
    for key in _HASHED_ONE:
        value = user.get(key)
        if value is not None:
            _check_hashed(value, f"{at}.{key}")
    for key in _PLAIN_USER:
        value = user.get(key)
        if value is not None and type(value) is not str:
            raise _not_string(f"{at}.{key}")


def _check_properties(properties: Any, at: str) -> None:
    if type(properties) is not dict:
        raise _Invalid(contract.INVALID_PARAMS, at, "not a valid object")
    for key in _PLAIN_PROPERTIES:
        value = properties.get(key)
        if value is not None and type(value) is not str:
            raise _not_string(f"{at}.{key}")
    currency = properties.get("currency")
    if currency is not None:
        if type(currency) is not str:
            raise _not_string(at + ".currency")
        if currency not in contract.CURRENCIES:
            raise _Invalid(
                contract.INVALID_PARAMS, at + ".currency", "not a valid ISO 4217 currency code"
            )
    value = properties.get("value")
    if value is not None and not _is_number(value):
        raise _Invalid(contract.INVALID_PARAMS, at + ".value", "not a valid number")
    content_type = properties.get("content_type")
    if content_type is not None and (
        type(content_type) is not str or content_type not in _CONTENT_TYPES
    ):
        raise _Invalid(
            contract.INVALID_PARAMS, at + ".content_type", "must be one of: product, product_group"
        )
    contents = properties.get("contents")
    if contents is not None:
        if type(contents) is not list:
            raise _Invalid(contract.INVALID_PARAMS, at + ".contents", "not a valid list")
        for index, content in enumerate(contents):
            _check_content(content, f"{at}.contents.{index}")


def _check_content(content: Any, at: str) -> None:
    if type(content) is not dict:
        raise _Invalid(contract.INVALID_PARAMS, at, "not a valid object")
    for key in _PLAIN_CONTENT:
        value = content.get(key)
        if value is not None and type(value) is not str:
            raise _not_string(f"{at}.{key}")
    for key in ("price", "quantity"):
        value = content.get(key)
        if value is not None and not _is_number(value):
            raise _Invalid(contract.INVALID_PARAMS, f"{at}.{key}", "not a valid number")


def _check_page(page: Any, at: str, web: bool) -> None:
    if type(page) is not dict:
        raise _Invalid(contract.INVALID_PARAMS, at, "not a valid object")
    url = page.get("url")
    if url is None:
        if web:
            raise _missing(at + ".url")
    elif type(url) is not str:
        raise _not_string(at + ".url")
    elif not url and web:
        raise _Invalid(contract.INVALID_PARAMS, at + ".url", "must not be empty")
    referrer = page.get("referrer")
    if referrer is not None and type(referrer) is not str:
        raise _not_string(at + ".referrer")
