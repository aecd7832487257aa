"""Writer schemas by id from a Confluent Schema Registry, and what to do when it is away.

Talks to the registry through ``confluent_kafka.schema_registry.SchemaRegistryClient`` (its
caching, failover across URLs, basic auth, static or OAuth bearer tokens and TLS client
certificates, configured from the ``SCHEMA_REGISTRY_*`` settings by :func:`client_config`),
and adds what a consumer needs on top:

- **An outage costs one request, not one per record.** After a failed request, further ids that
  are not cached fail at once for ``outage_hold_s`` (:class:`RegistryUnavailable`, no request):
  a chunk of 1,000 records of a new id costs one request while the registry is down, and the
  poll loop's intake decodes the chunk again later with backoff (``REGISTRY_BACKOFF_S``). The
  client's own retries are kept short (one retry, at most 0.1 s of sleep), so a worker never
  sleeps long and shutdown never waits on it.
- **An unknown id is remembered as unknown** for ``unknown_ttl_s``: a burst of records with an
  id that does not exist costs one request.
- **Schema references** (a schema that names types registered under other subjects) are fetched
  and handed over with the schema.

Exceptions, by what the caller does next::

    DecodeError('unknown_schema_id')        the id does not exist: dead-letter the record
    DecodeError('unsupported_schema_type')  a Protobuf (or unknown type of) schema
    DecodeError('incompatible_schema')      a reference that cannot be resolved
    RegistryUnavailable                     network, timeout, 5xx, 429, 401/403, a 404 that is
                                            not the registry's (no error_code): retry later
    SchemaRejected                          `produce`: the registry refused a registration
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Literal, Self

from tiktok_capi.consumer.decode.errors import DecodeError, RegistryUnavailable

if TYPE_CHECKING:
    from tiktok_capi.consumer.config.settings import InputSettings

__all__ = [
    "OUTAGE_HOLD_S",
    "UNKNOWN_TTL_S",
    "RegisteredWriter",
    "RegistryConfigError",
    "SchemaRegistry",
    "SchemaRejected",
    "client_config",
]

log = logging.getLogger(__name__)

OUTAGE_HOLD_S: Final = 0.5
"""After a failed request, how long uncached ids fail without asking the registry again."""
UNKNOWN_TTL_S: Final = 30.0
"""How long an id the registry does not know is answered as unknown without asking again."""

# The registry's own "not found" codes (a 404 without one is a proxy or a wrong URL path).
_SCHEMA_NOT_FOUND: Final = frozenset({40403, 40400})
_REFERENCE_NOT_FOUND: Final = frozenset({40401, 40402})
# Kept short: the caller backs off (intake), the client must not sleep in a worker.
_CLIENT_RETRIES: Final = {"max.retries": 1, "retries.wait.ms": 100, "retries.max.wait.ms": 500}
_MAX_REFERENCES: Final = 100

SchemaType = Literal["AVRO", "JSON"]


class RegistryConfigError(ValueError):
    """The registry client refused its configuration (a certificate file missing, ...)."""


class SchemaRejected(Exception):
    """The registry refused a schema registration (invalid, or incompatible with the subject)."""


@dataclass(frozen=True)
class RegisteredWriter:
    """A writer schema as registered: its type, text and the texts of what it references.

    ``references`` come in dependency order (a referenced schema before those that use it).
    """

    schema_type: SchemaType
    text: str
    references: tuple[str, ...] = ()


def _check(inputs: InputSettings) -> None:
    """Raise :class:`RegistryConfigError` listing every option set that does not go together."""
    problems: list[str] = []
    bearer = inputs.schema_registry_bearer_token is not None
    oauth = {
        "SCHEMA_REGISTRY_BEARER_AUTH_CLIENT_ID": inputs.schema_registry_bearer_client_id,
        "SCHEMA_REGISTRY_BEARER_AUTH_CLIENT_SECRET": inputs.schema_registry_bearer_client_secret,
        "SCHEMA_REGISTRY_BEARER_AUTH_ISSUER_ENDPOINT_URL": inputs.schema_registry_bearer_issuer_url,
    }
    uses_oauth = any(v is not None for v in oauth.values())
    if uses_oauth and bearer:
        problems.append(
            "SCHEMA_REGISTRY_BEARER_AUTH_TOKEN: set a static token or OAuth client credentials, "
            "not both"
        )
    missing = [name for name, v in oauth.items() if v is None]
    if uses_oauth and missing:
        problems.append(f"{', '.join(missing)}: required with OAuth client credentials")
    if (bearer or uses_oauth) and inputs.schema_registry_auth is not None:
        problems.append(
            "SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO: set basic auth or a bearer token, not both"
        )
    if (bearer or uses_oauth) and not inputs.schema_registry_bearer_logical_cluster:
        problems.append(
            "SCHEMA_REGISTRY_BEARER_AUTH_LOGICAL_CLUSTER: required with a bearer token (the "
            "registry client sends it as target-sr-cluster)"
        )
    auth = inputs.schema_registry_auth
    if auth is not None and ":" not in auth.get_secret_value():
        problems.append("SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO=(secret): must be user:password")
    key = inputs.schema_registry_ssl_key or inputs.schema_registry_ssl_key_password
    if key and not inputs.schema_registry_ssl_certificate:
        problems.append(
            "SCHEMA_REGISTRY_SSL_CERTIFICATE_LOCATION: required with "
            "SCHEMA_REGISTRY_SSL_KEY_LOCATION or SCHEMA_REGISTRY_SSL_KEY_PASSWORD"
        )
    if problems:
        raise RegistryConfigError("\n".join(problems))


def client_config(inputs: InputSettings, url: str | None = None) -> dict[str, Any]:
    """The Confluent client's configuration from the ``SCHEMA_REGISTRY_*`` settings.

    Args:
        inputs: the settings.
        url: overrides ``SCHEMA_REGISTRY_URL`` (e.g. `produce --schema-registry-url`).

    Raises:
        RegistryConfigError: options that do not go together (both a token and OAuth
            credentials, OAuth without its secret, a key without its certificate, ...), every
            problem on a line of its own, naming the variables and never a secret.
    """
    _check(inputs)
    conf: dict[str, Any] = {
        "url": url or inputs.schema_registry_url,
        "timeout": inputs.schema_registry_timeout_s,
        **_CLIENT_RETRIES,
    }
    if inputs.schema_registry_auth is not None:
        conf["basic.auth.user.info"] = inputs.schema_registry_auth.get_secret_value()
    bearer: dict[str, Any] = {}
    if inputs.schema_registry_bearer_token is not None:
        bearer["bearer.auth.credentials.source"] = "STATIC_TOKEN"
        bearer["bearer.auth.token"] = inputs.schema_registry_bearer_token.get_secret_value()
    elif inputs.schema_registry_bearer_client_secret is not None:
        bearer["bearer.auth.credentials.source"] = "OAUTHBEARER"
        bearer["bearer.auth.client.id"] = inputs.schema_registry_bearer_client_id
        secret = inputs.schema_registry_bearer_client_secret.get_secret_value()
        bearer["bearer.auth.client.secret"] = secret
        bearer["bearer.auth.scope"] = inputs.schema_registry_bearer_scope
        bearer["bearer.auth.issuer.endpoint.url"] = inputs.schema_registry_bearer_issuer_url
    if bearer:
        bearer["bearer.auth.logical.cluster"] = inputs.schema_registry_bearer_logical_cluster
        if inputs.schema_registry_bearer_identity_pool:
            bearer["bearer.auth.identity.pool.id"] = inputs.schema_registry_bearer_identity_pool
        conf.update(bearer)
    tls = {
        "ssl.ca.location": inputs.schema_registry_ssl_ca,
        "ssl.certificate.location": inputs.schema_registry_ssl_certificate,
        "ssl.key.location": inputs.schema_registry_ssl_key,
    }
    conf.update({k: v for k, v in tls.items() if v})
    if inputs.schema_registry_ssl_key_password is not None:
        conf["ssl.key.password"] = inputs.schema_registry_ssl_key_password.get_secret_value()
    return conf


class SchemaRegistry:
    """Writer schemas by id (cached for good: ids are immutable), outage- and typo-proof.

    Thread-safe. ``client`` is a ``confluent_kafka.schema_registry.SchemaRegistryClient`` (or
    its ``mock://`` twin in unit tests); this object closes it.

    Args:
        client: the Confluent registry client.
        outage_hold_s: after a failed request, uncached ids fail at once for this long.
        unknown_ttl_s: an unknown id is answered as unknown for this long without a request.
        clock: monotonic seconds (injected in tests).
    """

    def __init__(
        self,
        client: Any,
        *,
        outage_hold_s: float = OUTAGE_HOLD_S,
        unknown_ttl_s: float = UNKNOWN_TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._hold = outage_hold_s
        self._unknown_ttl = unknown_ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        self._writers: dict[int, RegisteredWriter] = {}
        self._unknown: dict[int, float] = {}
        self._down_until = 0.0
        self._down_why = ""

    @classmethod
    def from_settings(cls, inputs: InputSettings, url: str | None = None) -> SchemaRegistry:
        """A registry for ``inputs`` (``url`` overrides ``SCHEMA_REGISTRY_URL``).

        Raises:
            RegistryConfigError: the client refused its configuration (e.g. an unreadable
                certificate); the message names no secret.
        """
        from confluent_kafka.schema_registry import SchemaRegistryClient

        conf = client_config(inputs, url)
        try:
            return cls(SchemaRegistryClient(conf))
        except (ValueError, TypeError, OSError) as exc:  # ssl.SSLError is an OSError
            raise RegistryConfigError(
                f"the schema registry client refused its configuration "
                f"({type(exc).__name__}: {getattr(exc, 'strerror', None) or exc})"
            ) from None

    # -- reading ---------------------------------------------------------------------------
    def writer(self, schema_id: int) -> RegisteredWriter:
        """The writer schema registered under ``schema_id``.

        Raises:
            DecodeError: ``unknown_schema_id``, ``unsupported_schema_type`` or
                ``incompatible_schema`` (dead-letter the record).
            RegistryUnavailable: the registry cannot answer now (retry the record later).
        """
        known = self._writers.get(schema_id)
        if known is not None:
            return known
        now = self._clock()
        with self._lock:
            since = self._unknown.get(schema_id)
            if since is not None and now - since < self._unknown_ttl:
                raise _unknown(schema_id)
            if now < self._down_until:
                raise RegistryUnavailable(f"schema registry unavailable ({self._down_why})")
        try:
            writer = self._fetch(schema_id)
        except RegistryUnavailable as exc:
            with self._lock:
                self._down_until = self._clock() + self._hold
                self._down_why = str(exc)
            raise
        except DecodeError as exc:
            if exc.reason == "unknown_schema_id":
                with self._lock:
                    self._unknown[schema_id] = self._clock()
            raise
        with self._lock:
            self._writers[schema_id] = writer
            self._unknown.pop(schema_id, None)
            self._down_until = 0.0
        log.info(
            "fetched writer schema %d (%s) from the schema registry", schema_id, writer.schema_type
        )
        return writer

    def _fetch(self, schema_id: int) -> RegisteredWriter:
        from confluent_kafka.schema_registry.error import SchemaRegistryError

        try:
            schema = self._client.get_schema(schema_id)
        except SchemaRegistryError as exc:
            if exc.http_status_code == 404 and exc.error_code in _SCHEMA_NOT_FOUND:
                raise _unknown(schema_id) from None
            raise _unavailable(exc) from None
        except Exception as exc:  # transport errors, OAuth token errors, bad bodies
            raise _unavailable(exc) from None
        declared = str(schema.schema_type or "AVRO").upper()
        if declared not in ("AVRO", "JSON"):
            raise DecodeError(
                "unsupported_schema_type",
                f"schema {schema_id} is a {declared} schema (Avro and JSON are read)",
            )
        schema_type: SchemaType = "JSON" if declared == "JSON" else "AVRO"
        if not isinstance(schema.schema_str, str):
            raise _unavailable(ValueError("a schema answer without schema text"))
        references: list[str] = []
        if schema_type == "AVRO":
            self._references(schema.references or [], references, set(), schema_id)
        return RegisteredWriter(schema_type, schema.schema_str, tuple(references))

    def _references(
        self, refs: list[Any], out: list[str], seen: set[tuple[str, int]], schema_id: int
    ) -> None:
        """Append the texts of ``refs`` (and theirs, first) to ``out``, depth first."""
        from confluent_kafka.schema_registry.error import SchemaRegistryError

        for ref in refs:
            key = (str(ref.subject), int(ref.version or -1))
            if key in seen:
                continue
            seen.add(key)
            if len(seen) > _MAX_REFERENCES:
                raise DecodeError("incompatible_schema", f"schema {schema_id}: too many references")
            try:
                registered = self._client.get_version(ref.subject, ref.version)
            except SchemaRegistryError as exc:
                if exc.http_status_code == 404 and exc.error_code in _REFERENCE_NOT_FOUND:
                    raise DecodeError(
                        "incompatible_schema",
                        f"schema {schema_id}: reference {ref.name!r} is not registered",
                    ) from None
                raise _unavailable(exc) from None
            except Exception as exc:
                raise _unavailable(exc) from None
            inner = registered.schema
            self._references(inner.references or [], out, seen, schema_id)
            out.append(inner.schema_str)

    # -- registering (`produce`) -------------------------------------------------------------
    def register(self, subject: str, text: str, schema_type: SchemaType = "AVRO") -> int:
        """Register ``text`` under ``subject`` (idempotent) and return its id.

        Raises:
            SchemaRejected: invalid, or incompatible with the subject's rules (4xx).
            RegistryUnavailable: the registry could not answer now.
        """
        from confluent_kafka.schema_registry import Schema
        from confluent_kafka.schema_registry.error import SchemaRegistryError

        try:
            schema_id = int(self._client.register_schema(subject, Schema(text, schema_type)))
        except SchemaRegistryError as exc:
            status = exc.http_status_code
            if 400 <= status < 500 and status not in (401, 403, 408, 429) and exc.error_code != -1:
                raise SchemaRejected(
                    f"registry refused the schema for subject {subject!r}: HTTP {status} "
                    f"(code {exc.error_code}) {str(exc.error_message)[:200]}"
                ) from None
            raise _unavailable(exc) from None
        except Exception as exc:
            raise _unavailable(exc) from None
        with self._lock:
            self._writers.setdefault(schema_id, RegisteredWriter(schema_type, text))
        return schema_id

    def close(self) -> None:
        """Close the client's connections (the OAuth token client's too)."""
        self._client.close()
        # SchemaRegistryClient.close() leaves the OAuth token endpoint's session open.
        rest = getattr(self._client, "_rest_client", None)
        oauth = getattr(getattr(rest, "bearer_field_provider", None), "client", None)
        close = getattr(oauth, "close", None)
        if callable(close):
            close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _unknown(schema_id: int) -> DecodeError:
    return DecodeError("unknown_schema_id", f"schema id {schema_id} is not registered")


def _unavailable(exc: Exception) -> RegistryUnavailable:
    """A PII- and secret-free description of why the registry could not answer."""
    from confluent_kafka.schema_registry.error import SchemaRegistryError

    if isinstance(exc, SchemaRegistryError):
        status = exc.http_status_code
        hint = ""
        if status in (401, 403):
            hint = "; check the SCHEMA_REGISTRY_* credentials"
        return RegistryUnavailable(
            f"schema registry answered HTTP {status} (code {exc.error_code}){hint}"
        )
    tls = _tls_reason(exc)
    if tls is not None:
        return RegistryUnavailable(
            f"schema registry TLS handshake failed ({tls}); check SCHEMA_REGISTRY_URL and the "
            "SCHEMA_REGISTRY_SSL_* certificates"
        )
    return RegistryUnavailable(f"schema registry unreachable: {type(exc).__name__}")


def _tls_reason(exc: BaseException) -> str | None:
    """OpenSSL's reason (``CERTIFICATE_VERIFY_FAILED``, ...) when TLS caused ``exc``, else None."""
    seen: BaseException | None = exc
    for _ in range(8):  # httpx wraps httpcore, which wraps the ssl module's error
        if seen is None:
            return None
        if isinstance(seen, ssl.SSLError):
            return str(seen.reason or type(seen).__name__)
        seen = seen.__cause__ or seen.__context__
    return None
