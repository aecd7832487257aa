"""Schema registry client and the registry-framed decoder, over real sockets."""

from __future__ import annotations

import io
import json
from typing import Any

import httpx
import pytest
from fastavro import parse_schema, schemaless_writer

from tests.fixtures.registry import FakeSchemaRegistry
from tiktok_capi.consumer.config.settings import SecretStr
from tiktok_capi.consumer.decode.codec import (
    DecodeError,
    RegistryDecoder,
    RegistryUnavailable,
    bundled_schema_text,
    encode_event_framed,
    frame,
    to_record,
)
from tiktok_capi.consumer.decode.registry import SchemaRegistryClient, SchemaRejected
from tiktok_capi.consumer.demo.broker import free_port
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


@pytest.fixture
def client(schema_registry: FakeSchemaRegistry) -> Any:
    with SchemaRegistryClient(schema_registry.url, timeout=5) as c:
        yield c


def _writer(schema: dict[str, Any], record: dict[str, Any], schema_id: int) -> bytes:
    buffer = io.BytesIO()
    schemaless_writer(buffer, parse_schema(schema), record)
    return frame(schema_id, buffer.getvalue())


# -- client ------------------------------------------------------------------------------------
def test_get_schema_fetches_once_then_caches(
    schema_registry: FakeSchemaRegistry, client: SchemaRegistryClient
) -> None:
    schema_id = schema_registry.register("cdp-events-value", bundled_schema_text())
    assert client.get_schema(schema_id) == bundled_schema_text()
    assert client.get_schema(schema_id) == bundled_schema_text()
    assert schema_registry.lookups(schema_id) == 1


def test_unknown_id_is_a_decode_error_remembered_for_a_while(
    schema_registry: FakeSchemaRegistry,
) -> None:
    now = [0.0]
    with SchemaRegistryClient(schema_registry.url, negative_ttl=30, clock=lambda: now[0]) as c:
        for _ in range(3):
            with pytest.raises(DecodeError) as info:
                c.get_schema(77)
            assert info.value.reason == "unknown_schema_id"
        assert schema_registry.lookups(77) == 1
        now[0] = 31.0
        schema_registry.register("s", bundled_schema_text(), schema_id=77)
        assert c.get_schema(77) == bundled_schema_text()


@pytest.mark.parametrize("status", [500, 503, 429, 401, 403])
def test_server_errors_and_refused_credentials_are_unavailable(
    schema_registry: FakeSchemaRegistry, client: SchemaRegistryClient, status: int
) -> None:
    schema_registry.fail_status = status
    with pytest.raises(RegistryUnavailable):
        client.get_schema(1)


def test_unreachable_registry_is_unavailable() -> None:
    with SchemaRegistryClient(f"http://127.0.0.1:{free_port()}", timeout=2) as c:
        with pytest.raises(RegistryUnavailable):
            c.get_schema(1)
        with pytest.raises(RegistryUnavailable):
            c.register("s", bundled_schema_text())


def test_basic_auth_is_sent_and_never_shown(schema_registry: FakeSchemaRegistry) -> None:
    schema_registry.auth = ("svc", "s3cret-pass")
    schema_id = schema_registry.register("s", bundled_schema_text())
    with SchemaRegistryClient(schema_registry.url) as anonymous, pytest.raises(RegistryUnavailable):
        anonymous.get_schema(schema_id)
    with SchemaRegistryClient(schema_registry.url, auth=SecretStr("svc:s3cret-pass")) as c:
        assert c.get_schema(schema_id) == bundled_schema_text()
        assert "s3cret" not in repr(c.__dict__)


def test_non_avro_schema_is_incompatible(
    schema_registry: FakeSchemaRegistry, client: SchemaRegistryClient
) -> None:
    schema_id = schema_registry.register("s", '{"type": "object"}', schema_type="JSON")
    with pytest.raises(DecodeError) as info:
        client.get_schema(schema_id)
    assert info.value.reason == "incompatible_schema"


def test_register_is_idempotent_and_visible(
    schema_registry: FakeSchemaRegistry, client: SchemaRegistryClient
) -> None:
    first = client.register("cdp events/value", bundled_schema_text())
    assert client.register("cdp events/value", bundled_schema_text()) == first
    assert schema_registry.subjects == {"cdp events/value": [first]}
    assert client.get_schema(first) == bundled_schema_text()
    assert schema_registry.lookups(first) == 0  # known from the registration


def test_register_refused_schema(client: SchemaRegistryClient) -> None:
    with pytest.raises(SchemaRejected):
        client.register("s", "not json")


def test_registry_answers_are_checked_with_a_mock_transport() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"<html>proxy error</html>")

    with SchemaRegistryClient("http://registry", transport=httpx.MockTransport(handler)) as c:
        with pytest.raises(RegistryUnavailable):
            c.get_schema(1)
        with pytest.raises(RegistryUnavailable):
            c.register("s", bundled_schema_text())


# -- decoder with the registry -----------------------------------------------------------------
def test_framed_event_decodes_and_the_schema_is_fetched_once(
    schema_registry: FakeSchemaRegistry, client: SchemaRegistryClient
) -> None:
    schema_id = schema_registry.register("cdp-events-value", bundled_schema_text())
    decoder = RegistryDecoder(client)
    for _ in range(5):
        assert decoder.decode(encode_event_framed(EVENT, schema_id)) == EVENT
    assert schema_registry.lookups(schema_id) == 1


def test_older_writer_schema_decodes_with_defaults(
    schema_registry: FakeSchemaRegistry, client: SchemaRegistryClient
) -> None:
    older = cdp_event_schema()
    older["fields"] = [f for f in older["fields"] if f["name"] not in ("integrations", "traits")]
    schema_id = schema_registry.register("cdp-events-value", json.dumps(older))
    record = to_record(EVENT)
    del record["integrations"]
    expected = {k: v for k, v in EVENT.items() if k != "integrations"}
    assert RegistryDecoder(client).decode(_writer(older, record, schema_id)) == expected


def test_newer_writer_schema_decodes_dropping_unknown_fields(
    schema_registry: FakeSchemaRegistry, client: SchemaRegistryClient
) -> None:
    newer = cdp_event_schema()
    newer["fields"].insert(3, {"name": "channel", "type": ["null", "string"], "default": None})
    newer["fields"].append({"name": "schemaVersion", "type": "int", "default": 2})
    schema_id = schema_registry.register("cdp-events-value", json.dumps(newer))
    record = {**to_record(EVENT), "channel": "server", "schemaVersion": 3}
    assert RegistryDecoder(client).decode(_writer(newer, record, schema_id)) == EVENT


def test_incompatible_writer_schema_is_a_decode_error(
    schema_registry: FakeSchemaRegistry, client: SchemaRegistryClient
) -> None:
    other = {"type": "record", "name": "Other", "fields": [{"name": "x", "type": "long"}]}
    schema_id = schema_registry.register("s", json.dumps(other))
    with pytest.raises(DecodeError) as info:
        RegistryDecoder(client).decode(_writer(other, {"x": 1}, schema_id))
    assert info.value.reason == "incompatible_schema"

    retyped = cdp_event_schema()
    retyped["fields"][0] = {"name": "type", "type": "long"}
    retyped_id = schema_registry.register("s", json.dumps(retyped))
    record = {**to_record(EVENT), "type": 5}
    with pytest.raises(DecodeError) as info:
        RegistryDecoder(client).decode(_writer(retyped, record, retyped_id))
    assert info.value.reason == "incompatible_schema"


def test_not_an_avro_record_schema_is_incompatible(
    schema_registry: FakeSchemaRegistry, client: SchemaRegistryClient
) -> None:
    schema_id = schema_registry.register("s", '"string"')
    with pytest.raises(DecodeError) as info:
        RegistryDecoder(client).decode(frame(schema_id, b"\x02a"))
    assert info.value.reason == "incompatible_schema"
    broken_id = schema_registry.register("s", '{"type": "record"}')
    with pytest.raises(DecodeError) as info:
        RegistryDecoder(client).decode(frame(broken_id, b"\x00"))
    assert info.value.reason == "incompatible_schema"


def test_unknown_schema_id_and_an_outage_are_told_apart(
    schema_registry: FakeSchemaRegistry, client: SchemaRegistryClient
) -> None:
    decoder = RegistryDecoder(client)
    with pytest.raises(DecodeError) as info:
        decoder.decode(encode_event_framed(EVENT, 4242))
    assert info.value.reason == "unknown_schema_id"

    schema_id = schema_registry.register("cdp-events-value", bundled_schema_text())
    schema_registry.fail_status = 503
    with pytest.raises(RegistryUnavailable):
        decoder.decode(encode_event_framed(EVENT, schema_id))
    schema_registry.fail_status = None
    assert decoder.decode(encode_event_framed(EVENT, schema_id)) == EVENT
