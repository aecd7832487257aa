"""The schema registry (Confluent's client underneath) and framed decoding, over sockets."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from fastavro import parse_schema, schemaless_writer

from tests.fixtures.registry import FakeSchemaRegistry
from tests.fixtures.tls import authority
from tiktok_capi.consumer.config.settings import InputSettings, SecretStr
from tiktok_capi.consumer.decode.codec import (
    DecodeError,
    RegistryUnavailable,
    bundled_schema_text,
    encode_event_framed,
    frame,
    to_record,
)
from tiktok_capi.consumer.decode.formats import RecordDecoder
from tiktok_capi.consumer.decode.registry import (
    RegistryConfigError,
    SchemaRegistry,
    SchemaRejected,
    client_config,
)
from tiktok_capi.consumer.decode.transform import REGISTRY_DOWN, Transformer
from tiktok_capi.consumer.demo.broker import free_port
from tiktok_capi.mapping import MappingSettings
from tiktok_capi.schemas.loader import cdp_event_schema

EVENT = {
    "type": "track",
    "event": "Product Added",
    "messageId": "m-1",
    "userId": "u-1",
    "timestamp": "2024-11-25T08:00:00.000Z",
    "properties": {"product_id": "p-1", "price": 9.99, "quantity": 2},
    "context": {"ip": "203.0.113.9"},
    "integrations": {"All": True},
    "limited_data_use": True,
}


def _registry(url: str, **settings: Any) -> SchemaRegistry:
    inputs = InputSettings(schema_registry_url=url, schema_registry_timeout_s=2.0, **settings)
    return SchemaRegistry.from_settings(inputs)


@pytest.fixture
def registry(schema_registry: FakeSchemaRegistry) -> Any:
    with _registry(schema_registry.url) as r:
        yield r


def _writer(schema: dict[str, Any], record: dict[str, Any], schema_id: int) -> bytes:
    buffer = io.BytesIO()
    schemaless_writer(buffer, parse_schema(schema), record)
    return frame(schema_id, buffer.getvalue())


# -- fetching ----------------------------------------------------------------------------------
def test_writer_schema_is_fetched_once_then_cached(
    schema_registry: FakeSchemaRegistry, registry: SchemaRegistry
) -> None:
    schema_id = schema_registry.register("cdp-events-value", bundled_schema_text())
    assert registry.writer(schema_id).text == bundled_schema_text()
    assert registry.writer(schema_id).schema_type == "AVRO"
    assert schema_registry.lookups(schema_id) == 1


def test_unknown_id_is_a_decode_error_remembered_for_a_while(
    schema_registry: FakeSchemaRegistry,
) -> None:
    now = [0.0]
    client = SchemaRegistryClient(
        client_config(InputSettings(schema_registry_url=schema_registry.url))
    )
    with SchemaRegistry(client, unknown_ttl_s=30, clock=lambda: now[0]) as registry:
        for _ in range(3):
            with pytest.raises(DecodeError) as info:
                registry.writer(77)
            assert info.value.reason == "unknown_schema_id"
        assert schema_registry.lookups(77) == 1
        now[0] = 31.0
        schema_registry.register("s", bundled_schema_text(), schema_id=77)
        assert registry.writer(77).text == bundled_schema_text()


@pytest.mark.parametrize("status", [500, 503, 429, 401, 403])
def test_server_errors_and_refused_credentials_are_unavailable(
    schema_registry: FakeSchemaRegistry, registry: SchemaRegistry, status: int
) -> None:
    schema_registry.fail_status = status
    with pytest.raises(RegistryUnavailable):
        registry.writer(1)


def test_a_404_that_is_not_the_registrys_is_an_outage_not_an_unknown_id(
    schema_registry: FakeSchemaRegistry,
) -> None:
    # A wrong URL path (a proxy, a missing prefix) answers 404 for every id: dead-lettering
    # the stream as "unknown_schema_id" would be wrong.
    with (
        _registry(schema_registry.url + "/not-the-registry") as registry,
        pytest.raises(RegistryUnavailable),
    ):
        registry.writer(1)


def test_unreachable_registry_is_unavailable() -> None:
    with _registry(f"http://127.0.0.1:{free_port()}") as registry:
        with pytest.raises(RegistryUnavailable):
            registry.writer(1)
        with pytest.raises(RegistryUnavailable):
            registry.register("s", bundled_schema_text())


def test_basic_auth_is_sent_and_never_shown(schema_registry: FakeSchemaRegistry) -> None:
    schema_registry.auth = ("svc", "s3cret-pass")
    schema_id = schema_registry.register("s", bundled_schema_text())
    with _registry(schema_registry.url) as anonymous, pytest.raises(RegistryUnavailable) as info:
        anonymous.writer(schema_id)
    assert "401" in str(info.value) and "credentials" in str(info.value)
    with _registry(schema_registry.url, schema_registry_auth=SecretStr("svc:s3cret-pass")) as r:
        assert r.writer(schema_id).text == bundled_schema_text()
        assert "s3cret" not in repr(r.__dict__)


def test_static_bearer_token_and_logical_cluster_are_sent(
    schema_registry: FakeSchemaRegistry,
) -> None:
    schema_registry.bearer = "static-token-123"
    schema_id = schema_registry.register("s", bundled_schema_text())
    with _registry(
        schema_registry.url,
        schema_registry_bearer_token=SecretStr("static-token-123"),
        schema_registry_bearer_logical_cluster="lsrc-1",
        schema_registry_bearer_identity_pool="pool-9",
    ) as r:
        assert r.writer(schema_id).text == bundled_schema_text()
    assert schema_registry.bearer_headers == [
        {"target-sr-cluster": "lsrc-1", "confluent-identity-pool-id": "pool-9"}
    ]


def test_oauth_client_credentials_fetch_a_token_then_use_it(
    schema_registry: FakeSchemaRegistry,
) -> None:
    schema_registry.oauth_client = ("connector", "client-secret-42")
    schema_registry.bearer = "never-issued"
    schema_id = schema_registry.register("s", bundled_schema_text())
    with _registry(
        schema_registry.url,
        schema_registry_bearer_client_id="connector",
        schema_registry_bearer_client_secret=SecretStr("client-secret-42"),
        schema_registry_bearer_issuer_url=f"{schema_registry.url}/oauth/token",
        schema_registry_bearer_scope="registry",
        schema_registry_bearer_logical_cluster="lsrc-2",
    ) as r:
        assert r.writer(schema_id).text == bundled_schema_text()
    assert schema_registry.issued_tokens == ["token-1"]


def test_tls_with_a_client_certificate(tmp_path: Path) -> None:
    """HTTPS to a registry that demands a client certificate (an encrypted key) from its CA."""
    ours = authority(tmp_path / "ours")
    theirs = authority(tmp_path / "theirs", "another CA")
    server = FakeSchemaRegistry(tls=ours.server_context()).start()
    try:
        schema_id = server.register("s", bundled_schema_text())
        mutual = {
            "schema_registry_ssl_ca": str(ours.ca),
            "schema_registry_ssl_certificate": str(ours.client.certificate),
            "schema_registry_ssl_key": str(ours.client.key),
            "schema_registry_ssl_key_password": SecretStr(ours.client_key_password),
        }
        with _registry(server.url, **mutual) as r:
            assert r.writer(schema_id).text == bundled_schema_text()
            assert ours.client_key_password not in repr(r.__dict__)
        refused = [  # each says it is TLS, and which certificate to look at
            {k: v for k, v in mutual.items() if k == "schema_registry_ssl_ca"},  # no client cert
            {**mutual, "schema_registry_ssl_ca": str(theirs.ca)},  # the server is not trusted
            {  # a client certificate the server's CA did not sign
                **mutual,
                "schema_registry_ssl_certificate": str(theirs.client.certificate),
                "schema_registry_ssl_key": str(theirs.client.key),
            },
        ]
        for settings in refused:
            with _registry(server.url, **settings) as r, pytest.raises(RegistryUnavailable) as no:
                r.writer(schema_id)
            assert "TLS handshake failed" in str(no.value), settings
            assert "SCHEMA_REGISTRY_SSL_" in str(no.value)
        wrong_password = {**mutual, "schema_registry_ssl_key_password": SecretStr("nope")}
        with pytest.raises(RegistryConfigError) as info:
            _registry(server.url, **wrong_password)
        assert "nope" not in str(info.value) and ours.client_key_password not in str(info.value)
        assert server.lookups(schema_id) == 1  # refused handshakes never reached a handler
    finally:
        server.stop()


def test_an_unusable_client_configuration_is_a_clear_error(tmp_path: Any) -> None:
    missing = str(tmp_path / "client.pem")
    with pytest.raises(RegistryConfigError) as info:
        _registry("https://127.0.0.1:1", schema_registry_ssl_certificate=missing)
    assert "refused its configuration" in str(info.value)


def test_json_schemas_are_read_and_protobuf_is_not(
    schema_registry: FakeSchemaRegistry, registry: SchemaRegistry
) -> None:
    json_id = schema_registry.register("s", '{"type": "object"}', schema_type="JSON")
    assert registry.writer(json_id).schema_type == "JSON"
    proto_id = schema_registry.register("p", 'syntax = "proto3";', schema_type="PROTOBUF")
    with pytest.raises(DecodeError) as info:
        registry.writer(proto_id)
    assert info.value.reason == "unsupported_schema_type"


def test_references_are_fetched_and_decode(
    schema_registry: FakeSchemaRegistry, registry: SchemaRegistry
) -> None:
    address = {
        "type": "record",
        "name": "Address",
        "namespace": "com.acme",
        "fields": [{"name": "city", "type": "string"}],
    }
    schema_registry.register("com.acme.Address", address)
    event = {
        "type": "record",
        "name": "Event",
        "namespace": "com.acme",
        "fields": [{"name": "event", "type": "string"}, {"name": "address", "type": "Address"}],
    }
    refs = [{"name": "com.acme.Address", "subject": "com.acme.Address", "version": 1}]
    schema_id = schema_registry.register("events-value", event, references=refs)
    decoder = RecordDecoder(registry=registry)
    named: dict[str, Any] = {}
    parse_schema(address, named_schemas=named)
    buffer = io.BytesIO()
    schemaless_writer(
        buffer,
        parse_schema(event, named_schemas=named),
        {"event": "x", "address": {"city": "Oslo"}},
    )
    value = frame(schema_id, buffer.getvalue())
    assert decoder.decode(value) == {"event": "x", "address": {"city": "Oslo"}}


def test_a_missing_reference_is_an_unusable_schema(
    schema_registry: FakeSchemaRegistry, registry: SchemaRegistry
) -> None:
    refs = [{"name": "com.acme.Gone", "subject": "gone", "version": 1}]
    schema_id = schema_registry.register(
        "s", {"type": "record", "name": "E", "fields": []}, references=refs
    )
    with pytest.raises(DecodeError) as info:
        registry.writer(schema_id)
    assert info.value.reason == "incompatible_schema"


# -- registering (produce) ---------------------------------------------------------------------
def test_register_is_idempotent_and_visible(
    schema_registry: FakeSchemaRegistry, registry: SchemaRegistry
) -> None:
    first = registry.register("cdp events/value", bundled_schema_text())
    assert registry.register("cdp events/value", bundled_schema_text()) == first
    assert schema_registry.subjects == {"cdp events/value": [first]}
    assert registry.writer(first).text == bundled_schema_text()
    assert schema_registry.lookups(first) == 0  # known from the registration


def test_register_refused_schema(registry: SchemaRegistry) -> None:
    with pytest.raises(SchemaRejected):
        registry.register("s", "not json")


def test_the_mock_client_serves_unit_tests() -> None:
    client = SchemaRegistryClient.new_client({"url": "mock://unit"})
    with SchemaRegistry(client) as registry:
        schema_id = client.register_schema("s", Schema(bundled_schema_text(), "AVRO"))
        decoder = RecordDecoder(registry=registry)
        assert decoder.decode(encode_event_framed(EVENT, schema_id)) == EVENT
        with pytest.raises(DecodeError) as info:
            decoder.decode(encode_event_framed(EVENT, schema_id + 100))
        assert info.value.reason == "unknown_schema_id"


# -- an outage (issue 12, defect 6) ------------------------------------------------------------
def test_a_down_registry_costs_one_request_per_chunk_not_one_per_record(
    schema_registry: FakeSchemaRegistry,
) -> None:
    # Before: every record of a chunk asked the registry again (1,000 requests of up to 10 s
    # each), so one chunk could block a worker, or the poll loop, for hours.
    schema_id = schema_registry.register("cdp-events-value", bundled_schema_text())
    schema_registry.fail_status = 503
    now = [0.0]
    client = SchemaRegistryClient(
        client_config(InputSettings(schema_registry_url=schema_registry.url))
    )
    registry = SchemaRegistry(client, outage_hold_s=0.5, clock=lambda: now[0])
    transformer = Transformer(RecordDecoder(registry=registry), MappingSettings())
    values: list[bytes | None] = [encode_event_framed(EVENT, schema_id)] * 1000
    results = transformer.run(values, 0.0)
    assert {r[0] for r in results} == {REGISTRY_DOWN}
    # One request, retried once by the client on a 503 (its max.retries is kept at 1).
    assert schema_registry.lookups(schema_id) == 2
    now[0] = 0.6  # the hold is over: the next chunk asks again, and the registry is back
    schema_registry.fail_status = None
    assert transformer.run(values[:3], 0.0)[0][0] != REGISTRY_DOWN
    assert schema_registry.lookups(schema_id) == 3
    registry.close()


def test_a_registry_that_never_answers_costs_one_timeout_per_chunk(
    schema_registry: FakeSchemaRegistry,
) -> None:
    schema_registry.hang = True
    inputs = InputSettings(schema_registry_url=schema_registry.url, schema_registry_timeout_s=0.2)
    with SchemaRegistry(SchemaRegistryClient(client_config(inputs)), clock=lambda: 0.0) as r:
        decoder = RecordDecoder(registry=r)
        for _ in range(200):
            with pytest.raises(RegistryUnavailable):
                decoder.decode(encode_event_framed(EVENT, 5))
    assert schema_registry.lookups(5) <= 2  # one request and the client's single retry


# -- decoding versions of the bundled schema -----------------------------------------------------
def test_framed_event_decodes_and_the_schema_is_fetched_once(
    schema_registry: FakeSchemaRegistry, registry: SchemaRegistry
) -> None:
    schema_id = schema_registry.register("cdp-events-value", bundled_schema_text())
    decoder = RecordDecoder(registry=registry)
    for _ in range(5):
        assert decoder.decode(encode_event_framed(EVENT, schema_id)) == EVENT
    assert schema_registry.lookups(schema_id) == 1


def test_older_writer_schema_decodes_with_defaults(
    schema_registry: FakeSchemaRegistry, registry: SchemaRegistry
) -> None:
    older = cdp_event_schema()
    older["fields"] = [f for f in older["fields"] if f["name"] not in ("integrations", "traits")]
    schema_id = schema_registry.register("cdp-events-value", json.dumps(older))
    record = to_record(EVENT)
    del record["integrations"]
    expected = {k: v for k, v in EVENT.items() if k != "integrations"}
    assert RecordDecoder(registry=registry).decode(_writer(older, record, schema_id)) == expected


def test_newer_writer_schema_decodes_dropping_unknown_fields(
    schema_registry: FakeSchemaRegistry, registry: SchemaRegistry
) -> None:
    newer = cdp_event_schema()
    newer["fields"].insert(3, {"name": "channel", "type": ["null", "string"], "default": None})
    newer["fields"].append({"name": "schemaVersion", "type": "int", "default": 2})
    schema_id = schema_registry.register("cdp-events-value", json.dumps(newer))
    record = {**to_record(EVENT), "channel": "server", "schemaVersion": 3}
    assert RecordDecoder(registry=registry).decode(_writer(newer, record, schema_id)) == EVENT


def test_incompatible_version_of_the_bundled_schema_is_a_decode_error(
    schema_registry: FakeSchemaRegistry, registry: SchemaRegistry
) -> None:
    retyped = cdp_event_schema()
    retyped["fields"][0] = {"name": "type", "type": "long"}
    retyped_id = schema_registry.register("s", json.dumps(retyped))
    record = {**to_record(EVENT), "type": 5}
    with pytest.raises(DecodeError) as info:
        RecordDecoder(registry=registry).decode(_writer(retyped, record, retyped_id))
    assert info.value.reason == "incompatible_schema"


def test_a_schema_that_is_not_a_record_or_not_avro(
    schema_registry: FakeSchemaRegistry, registry: SchemaRegistry
) -> None:
    decoder = RecordDecoder(registry=registry)
    schema_id = schema_registry.register("s", '"string"')
    with pytest.raises(DecodeError) as info:
        decoder.decode(frame(schema_id, b"\x02a"))
    assert info.value.reason == "not_an_object"
    broken_id = schema_registry.register("s", '{"type": "record"}')
    for _ in range(2):  # remembered: the schema is not parsed again per record
        with pytest.raises(DecodeError) as info:
            decoder.decode(frame(broken_id, b"\x00"))
        assert info.value.reason == "incompatible_schema"
    assert schema_registry.lookups(broken_id) == 1


def test_unknown_schema_id_and_an_outage_are_told_apart(
    schema_registry: FakeSchemaRegistry,
) -> None:
    now = [0.0]
    client = SchemaRegistryClient(
        client_config(InputSettings(schema_registry_url=schema_registry.url))
    )
    decoder = RecordDecoder(registry=SchemaRegistry(client, clock=lambda: now[0]))
    with pytest.raises(DecodeError) as info:
        decoder.decode(encode_event_framed(EVENT, 4242))
    assert info.value.reason == "unknown_schema_id"

    schema_id = schema_registry.register("cdp-events-value", bundled_schema_text())
    schema_registry.fail_status = 503
    with pytest.raises(RegistryUnavailable):
        decoder.decode(encode_event_framed(EVENT, schema_id))
    schema_registry.fail_status = None
    now[0] = 10.0
    assert decoder.decode(encode_event_framed(EVENT, schema_id)) == EVENT
    decoder.close()


@pytest.mark.parametrize(
    ("options", "named"),
    [
        (
            {
                "schema_registry_bearer_token": SecretStr("t0ken-value"),
                "schema_registry_bearer_client_id": "c",
                "schema_registry_bearer_logical_cluster": "lsrc-1",
            },
            ["SCHEMA_REGISTRY_BEARER_AUTH_TOKEN", "SCHEMA_REGISTRY_BEARER_AUTH_CLIENT_SECRET"],
        ),
        (
            {"schema_registry_bearer_token": SecretStr("t0ken-value")},
            ["SCHEMA_REGISTRY_BEARER_AUTH_LOGICAL_CLUSTER"],
        ),
        (
            {
                "schema_registry_auth": SecretStr("u:p4ssword"),
                "schema_registry_bearer_token": SecretStr("t0ken-value"),
                "schema_registry_bearer_logical_cluster": "lsrc-1",
            },
            ["SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO"],
        ),
        ({"schema_registry_auth": SecretStr("no-colon")}, ["user:password"]),
        ({"schema_registry_ssl_key": "/k.pem"}, ["SCHEMA_REGISTRY_SSL_CERTIFICATE_LOCATION"]),
    ],
)
def test_registry_options_that_do_not_go_together_are_named(
    options: dict[str, Any], named: list[str]
) -> None:
    with pytest.raises(RegistryConfigError) as info:
        client_config(InputSettings(schema_registry_url="http://127.0.0.1:1", **options))
    for name in named:
        assert name in str(info.value)
    assert "t0ken" not in str(info.value) and "p4ss" not in str(info.value)
