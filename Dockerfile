# syntax=docker/dockerfile:1
# tiktok-capi: one image for every command (run, produce, emulate, dlq, map).
#
#   docker build -t tiktok-capi:local .
#   docker run --rm --read-only --tmpfs /tmp -p 8080:8080 -e KAFKA_BOOTSTRAP_SERVERS=... tiktok-capi:local
#
# The runtime stage holds a virtual environment and nothing else of the build: no compiler, no
# pip cache, no sources. It runs as the numeric non-root user 10001 and writes nothing outside
# /tmp, so it works with a read-only root filesystem (Kubernetes readOnlyRootFilesystem).

# Pinned patch release of the slim Debian image; bump deliberately (e.g. with Renovate).
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

# ---- builder: build the project's wheel and install it with its dependencies into a venv ----
FROM ${PYTHON_IMAGE} AS builder

# mapping/ and the Avro reader are compiled with mypyc into the wheel (~1/3 less CPU per
# record in the decode workers); --build-arg TIKTOK_CAPI_MYPYC=0 builds pure Python instead.
ARG TIKTOK_CAPI_MYPYC=1

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

# The C compiler for mypyc, in this stage only: the runtime stage gets the built venv, no gcc.
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /src

# Only what the wheel is built from (see .dockerignore): packaging metadata and the in-tree
# build backend, then the packages.
COPY pyproject.toml README.md setup.py ./
COPY build_backend/ build_backend/
COPY mapping/ mapping/
COPY consumer/ consumer/
COPY emulator/ emulator/
COPY schemas/ schemas/

# confluent-kafka, fastavro and orjson ship manylinux wheels (librdkafka included); only the
# project's own wheel is compiled here (TIKTOK_CAPI_MYPYC, see docs/architecture.md).
RUN python -m pip wheel --no-deps --wheel-dir /wheels . \
 && python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir /wheels/*.whl \
 && /opt/venv/bin/python -P -c "import os; from tiktok_capi import mapping; assert mapping.compiled() or os.environ['TIKTOK_CAPI_MYPYC'] != '1', 'mapping was not compiled'" \
 && /opt/venv/bin/python -m pip uninstall --yes pip setuptools

# ---- runtime: the venv on a clean slim image, non-root, read-only friendly ----
FROM ${PYTHON_IMAGE} AS runtime

ARG VERSION=0.1.0
ARG REVISION=unknown

LABEL org.opencontainers.image.title="tiktok-capi" \
      org.opencontainers.image.description="Kafka consumer group delivering Avro-encoded CDP (Segment-spec) events to the TikTok Events API 2.0" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.base.name="${PYTHON_IMAGE}"

# A named user for tools that look the uid up; the numeric id is what Kubernetes checks
# (runAsNonRoot needs a numeric USER).
RUN groupadd --system --gid 10001 tiktok \
 && useradd --system --uid 10001 --gid 10001 --home-dir /tmp --no-create-home \
        --shell /usr/sbin/nologin tiktok

COPY --from=builder /opt/venv /opt/venv

# Bytecode was compiled at build time; never write it at run time (read-only root fs).
# HOME points at /tmp, the only writable path.
ENV PATH="/opt/venv/bin:${PATH}" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    HEALTH_PORT=8080

WORKDIR /tmp
USER 10001:10001

# /livez, /readyz and /metrics of `tiktok-capi run`.
EXPOSE 8080

# Docker and Compose only (Kubernetes uses the chart's probes). Other commands (emulate,
# produce) override or disable it.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/livez' % os.environ.get('HEALTH_PORT', '8080'), timeout=2)"]

# The connector handles SIGTERM itself (stop fetching, drain, commit, leave the group).
STOPSIGNAL SIGTERM
ENTRYPOINT ["tiktok-capi"]
CMD ["run"]
