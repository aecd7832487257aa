"""Why the Kafka cluster cannot be reached: one sentence per bootstrap address, for people.

librdkafka reports a bad host name, a refused port and a port that is not Kafka alike
(``_TRANSPORT``, "Broker transport failure", after the whole timeout). When start-up cannot read
the cluster's metadata, :func:`diagnose` looks at each bootstrap address itself — does the name
resolve, does the port accept a TCP connection, does it answer a Kafka ``ApiVersions`` request —
and says which, with the likely cause. It only runs on that failure path, with short timeouts,
and never sends credentials (``ApiVersions`` is the one request a broker answers before
authentication).
"""

from __future__ import annotations

import contextlib
import socket
import struct
from typing import Final

__all__ = ["diagnose", "split_bootstrap"]

_API_VERSIONS: Final = 18
_CORRELATION_ID: Final = 0x7C0FFEE
_CLIENT_ID: Final = b"tiktok-capi-probe"
_TLS: Final = ("ssl", "sasl_ssl")


def split_bootstrap(servers: str) -> list[tuple[str, int | None]]:
    """``host:port`` pairs of a bootstrap list (``PLAINTEXT://`` prefixes and ``[v6]`` handled);
    the port is ``None`` when missing or not a number."""
    found: list[tuple[str, int | None]] = []
    for raw in servers.split(","):
        entry = raw.strip()
        if "://" in entry:
            entry = entry.split("://", 1)[1]
        if not entry:
            continue
        if entry.startswith("["):
            host, _, rest = entry[1:].partition("]")
            port_text = rest.lstrip(":")
        else:
            host, _, port_text = entry.rpartition(":")
            if not host:
                host, port_text = port_text, ""
        found.append((host, int(port_text) if port_text.isdigit() else None))
    return found


def _api_versions_request() -> bytes:
    body = struct.pack(">hhih", _API_VERSIONS, 0, _CORRELATION_ID, len(_CLIENT_ID)) + _CLIENT_ID
    return struct.pack(">i", len(body)) + body


def _answers_kafka(sock: socket.socket) -> bool:
    sock.sendall(_api_versions_request())
    head = b""
    while len(head) < 8:
        chunk = sock.recv(8 - len(head))
        if not chunk:
            return False
        head += chunk
    size: int
    correlation: int
    size, correlation = struct.unpack(">ii", head)
    return 0 < size < 1_000_000 and correlation == _CORRELATION_ID


def _one(host: str, port: int | None, security_protocol: str, timeout: float) -> str:
    address = f"{host}:{port}" if port is not None else host
    if port is None:
        return f"{address}: no port (write host:port, e.g. {host}:9092)"
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        return (
            f"{address}: the host name does not resolve ({exc.strerror}): a typo in "
            "KAFKA_BOOTSTRAP_SERVERS, or DNS does not know the host (yet)"
        )
    family, kind, proto, _, sockaddr = infos[0]
    try:
        sock = socket.socket(family, kind, proto)
    except OSError as exc:  # pragma: no cover - the system refuses a socket
        return f"{address}: cannot open a socket: {exc.strerror}"
    with contextlib.closing(sock):
        sock.settimeout(timeout)
        try:
            sock.connect(sockaddr)
        except ConnectionRefusedError:
            return (
                f"{address}: connection refused: nothing listens on that port (a wrong port, "
                "or the broker is not running)"
            )
        except TimeoutError:
            return (
                f"{address}: no answer to a TCP connection within {timeout:g}s: a firewall or "
                "network policy drops the traffic, or the host is down"
            )
        except OSError as exc:
            return f"{address}: cannot connect: {exc.strerror or exc}"
        if security_protocol in _TLS:
            return (
                f"{address}: accepts TCP connections; the TLS handshake or authentication "
                "failed (check KAFKA_SSL_* / KAFKA_SASL_* and that this is a TLS listener)"
            )
        try:
            kafka = _answers_kafka(sock)
        except OSError:
            kafka = False
        if not kafka:
            return (
                f"{address}: accepts connections but does not answer as a Kafka broker: not "
                "a Kafka port (an HTTP port, say), or a TLS listener (then set "
                "KAFKA_SECURITY_PROTOCOL=SSL or SASL_SSL)"
            )
        return (
            f"{address}: answers as a Kafka broker; the metadata request still failed "
            "(authentication? check KAFKA_SECURITY_PROTOCOL and KAFKA_SASL_*)"
        )


def diagnose(
    bootstrap_servers: str, security_protocol: str = "plaintext", timeout: float = 2.0
) -> str:
    """What is wrong with each bootstrap address, ``; ``-separated (PII- and secret-free).

    Args:
        bootstrap_servers: ``KAFKA_BOOTSTRAP_SERVERS``.
        security_protocol: librdkafka's ``security.protocol`` (case-insensitive); with TLS the
            Kafka-protocol probe is skipped (it would speak plaintext to a TLS port).
        timeout: seconds per connection attempt and answer.
    """
    protocol = security_protocol.strip().lower()
    addresses = split_bootstrap(bootstrap_servers)
    if not addresses:
        return "KAFKA_BOOTSTRAP_SERVERS names no address"
    return "; ".join(_one(host, port, protocol, timeout) for host, port in addresses)
