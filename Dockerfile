# AgentSLO service image: `agentslo serve` on OTLP/gRPC 4317 and OTLP/HTTP + API 4318.
# docker-compose.yml builds it for the production-like stack; it runs as well on its own, on the
# embedded chDB store (in /var/lib/agentslo/var/clickhouse) unless AGENTSLO_CLICKHOUSE_URL names a server:
#   docker build -t agentslo .
#   docker run -p 127.0.0.1:4318:4318 -p 127.0.0.1:4317:4317 -v agentslo-data:/var/lib/agentslo \
#       -e AGENTSLO_INSECURE_NO_AUTH=true agentslo
# Listening on 0.0.0.0 (below), it refuses to start without API keys: that flag says a local try is
# meant; otherwise mount a config with auth.keys (README, API keys), as docker-compose.yml does.

# An exact patch tag: a rebuild must not move to another Python. Debian bookworm: glibc, so the
# manylinux wheels of chdb, grpcio and orjson install without a compiler; only AgentSLO's own
# compiled mapper (collector/_rows.pyx) needs gcc, in the build stage.
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev \
 && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/agentslo
WORKDIR /src
# Only what the distribution is built from (.dockerignore keeps the rest out of the context).
COPY pyproject.toml setup.py README.md ./
COPY agentslo ./agentslo
COPY alerts ./alerts
COPY collector ./collector
COPY dashboards ./dashboards
COPY ground ./ground
COPY slo ./slo
# A regular (not editable) install: the runtime image has no source tree, only the venv.
RUN /opt/agentslo/bin/pip install .

FROM ${PYTHON_IMAGE}
# A fixed uid, so a host directory mounted as the data dir can be chowned to it.
RUN groupadd --system --gid 10001 agentslo \
 && useradd --system --uid 10001 --gid agentslo --home-dir /var/lib/agentslo --create-home \
        --shell /usr/sbin/nologin agentslo
COPY --from=build /opt/agentslo /opt/agentslo
# The service listens on loopback by default; in a container it must listen on all interfaces.
ENV PATH=/opt/agentslo/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    AGENTSLO_HOST=0.0.0.0
USER 10001:10001
WORKDIR /var/lib/agentslo
EXPOSE 4317 4318
# Ready = storage answers and the schema is migrated. Slim images have no curl: Python's stdlib
# asks; urlopen raises on a 503, which exits non-zero.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/readyz' % os.environ.get('AGENTSLO_HTTP_PORT', '4318'), timeout=4)"]
# Exec form: the service is PID 1 and gets SIGTERM itself (it drains and flushes on it).
# The default command is `serve`; `docker run IMAGE check /etc/agentslo/agentslo.yaml` runs another.
ENTRYPOINT ["agentslo"]
CMD ["serve"]
