# paygate: one image for every role (API, worker, ingest, migrations, PKI set-up, simulated agents).
# Multi-stage: the build stage has pip and the wheels' build tools; the runtime stage has only the
# virtualenv, runs as an unprivileged user, and holds no secret. Secrets come at run time from the
# environment or from files (PAYGATE_VAULT_KEYS_FILE=/run/secrets/..., see docs/operations.md).

FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/paygate
WORKDIR /src
COPY pyproject.toml README.md ./
COPY gateway ./gateway
COPY device_agents ./device_agents
RUN /opt/paygate/bin/pip install ".[postgres,mqtt]"

FROM python:3.11-slim AS runtime
RUN groupadd --system --gid 10001 paygate \
 && useradd --system --uid 10001 --gid paygate --home-dir /srv/paygate --create-home paygate \
 && mkdir -p /certs/ca /srv/paygate/var \
 && chown paygate:paygate /certs/ca /srv/paygate/var
COPY --from=build /opt/paygate /opt/paygate
ENV PATH=/opt/paygate/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PAYGATE_VAR_DIR=/srv/paygate/var \
    PAYGATE_PKI_DIR=/certs/ca
WORKDIR /srv/paygate
USER paygate:paygate
EXPOSE 8000
CMD ["paygate", "serve", "--bind", "0.0.0.0:8000", "--workers", "2"]
