"""A small Confluent Schema Registry client: fetch writer schemas by id, register schemas.

Only the two endpoints the connector needs, over one pooled ``httpx.Client`` with timeouts:
``GET /schemas/ids/{id}`` (decoding) and ``POST /subjects/{subject}/versions`` (`produce`).
Schema ids are immutable, so fetched schemas are cached for the life of the process; an unknown
id is remembered for ``negative_ttl`` seconds so that a burst of poison records does not hammer
the registry.

Exceptions, by what the caller does next::

    DecodeError('unknown_schema_id')    the id does not exist (404): dead-letter the record
    DecodeError('incompatible_schema')  the id is not an Avro schema: dead-letter the record
    RegistryUnavailable                 network error, timeout, 5xx, 429, 401/403: back off, retry
    SchemaRejected                      the registry refused to register a schema (4xx): stop
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, Final, Self
from urllib.parse import quote

import httpx

from tiktok_capi.consumer.config.settings import SecretStr
from tiktok_capi.consumer.decode.errors import DecodeError, RegistryUnavailable

__all__ = ["SchemaRegistryClient", "SchemaRejected"]

log = logging.getLogger(__name__)

_CONTENT_TYPE: Final = "application/vnd.schemaregistry.v1+json"


class SchemaRejected(Exception):
    """The registry refused a schema registration (invalid or incompatible schema)."""


class SchemaRegistryClient:
    """Confluent-compatible Schema Registry client (thread-safe; caches by schema id).

    Args:
        url: base URL, e.g. ``http://schema-registry:8081``.
        auth: ``user:password`` for basic auth (SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO).
        timeout: seconds for connect and for each read/write.
        negative_ttl: seconds an unknown schema id is remembered as unknown.
        transport: an httpx transport to use instead of the network (tests).
        clock: monotonic clock for the negative cache (tests).
    """

    def __init__(
        self,
        url: str,
        *,
        auth: SecretStr | None = None,
        timeout: float = 10.0,
        negative_ttl: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        basic: tuple[str, str] | None = None
        if auth is not None:
            user, _, password = auth.get_secret_value().partition(":")
            basic = (user, password)
        self.url = url.rstrip("/")
        self._client = httpx.Client(
            base_url=self.url,
            auth=basic,
            timeout=timeout,
            transport=transport,
            headers={"Accept": _CONTENT_TYPE},
        )
        self._schemas: dict[int, str] = {}
        self._unknown: dict[int, float] = {}
        self._registered: dict[tuple[str, str], int] = {}
        self._negative_ttl = negative_ttl
        self._clock = clock

    def get_schema(self, schema_id: int) -> str:
        """The Avro schema text registered under ``schema_id`` (cached).

        Raises:
            DecodeError: ``unknown_schema_id`` or ``incompatible_schema`` (not Avro).
            RegistryUnavailable: the registry could not answer now.
        """
        cached = self._schemas.get(schema_id)
        if cached is not None:
            return cached
        unknown_since = self._unknown.get(schema_id)
        if unknown_since is not None and self._clock() - unknown_since < self._negative_ttl:
            raise DecodeError("unknown_schema_id", f"schema id {schema_id} is not registered")
        response = self._request("GET", f"/schemas/ids/{schema_id}")
        if response.status_code == 404:
            self._unknown[schema_id] = self._clock()
            raise DecodeError("unknown_schema_id", f"schema id {schema_id} is not registered")
        body = self._json(response, f"schema id {schema_id}")
        schema_type = body.get("schemaType", "AVRO")
        text = body.get("schema")
        if schema_type != "AVRO" or not isinstance(text, str):
            raise DecodeError(
                "incompatible_schema", f"schema id {schema_id} is a {schema_type} schema, not Avro"
            )
        self._schemas[schema_id] = text
        self._unknown.pop(schema_id, None)
        log.info("fetched writer schema %d from the schema registry", schema_id)
        return text

    def register(self, subject: str, schema: str) -> int:
        """Register Avro ``schema`` under ``subject`` (idempotent) and return its id.

        Raises:
            SchemaRejected: the registry refused it (invalid, or incompatible with the
                subject's compatibility rules).
            RegistryUnavailable: the registry could not answer now.
        """
        key = (subject, schema)
        known = self._registered.get(key)
        if known is not None:
            return known
        response = self._request(
            "POST",
            f"/subjects/{quote(subject, safe='')}/versions",
            json={"schema": schema},
        )
        if 400 <= response.status_code < 500 and response.status_code not in (401, 403, 429):
            raise SchemaRejected(
                f"registry refused the schema for subject {subject!r}: "
                f"HTTP {response.status_code} {_error_message(response)}"
            )
        body = self._json(response, f"subject {subject!r}")
        schema_id = body.get("id")
        if not isinstance(schema_id, int):
            raise RegistryUnavailable("registry answered a registration without an id")
        self._registered[key] = schema_id
        self._schemas.setdefault(schema_id, schema)
        return schema_id

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._client.request(
                method, path, headers={"Content-Type": _CONTENT_TYPE}, **kwargs
            )
        except httpx.HTTPError as exc:
            raise RegistryUnavailable(
                f"schema registry {self.url} unreachable: {type(exc).__name__}"
            ) from exc
        if response.status_code >= 500 or response.status_code == 429:
            raise RegistryUnavailable(
                f"schema registry {self.url} answered HTTP {response.status_code}"
            )
        if response.status_code in (401, 403):
            raise RegistryUnavailable(
                f"schema registry {self.url} refused the credentials (HTTP "
                f"{response.status_code}); check SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO"
            )
        return response

    def _json(self, response: httpx.Response, what: str) -> dict[str, Any]:
        if response.status_code != 200:
            raise RegistryUnavailable(
                f"schema registry answered HTTP {response.status_code} for {what}: "
                f"{_error_message(response)}"
            )
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise RegistryUnavailable(f"schema registry answered a non-JSON body for {what}")
        return body

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _error_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    if isinstance(body, dict):
        return str(body.get("message", ""))[:200]
    return ""
