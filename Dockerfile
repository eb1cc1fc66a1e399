# syntax=docker/dockerfile:1
# The four services' image (the command picks which: python -m crm_<service>) and, as target
# `tools`, the one-shot init job and the development mail server of docker-compose.yml.
#
# BASE_IMAGE is the official Python image by default; `make images` on a machine without a
# registry passes one built from Debian's packages (crm-platform/python:3.11-bookworm).
ARG BASE_IMAGE=python:3.11-slim

# --- builder: wheels of the project's packages and their pinned dependencies, installed into a
# virtual environment that the final stages copy. Extra CA certificates (a TLS proxy between the
# build and PyPI) are trusted here only: this stage is not part of any image that ships.
FROM ${BASE_IMAGE} AS builder
COPY infra/images/ca-certificates/ /tmp/extra-ca/
RUN set -eu; \
    if ls /tmp/extra-ca/*.crt >/dev/null 2>&1; then \
      cat /etc/ssl/certs/ca-certificates.crt /tmp/extra-ca/*.crt > /tmp/ca-bundle.crt; \
    else cp /etc/ssl/certs/ca-certificates.crt /tmp/ca-bundle.crt; fi
ENV PIP_CERT=/tmp/ca-bundle.crt PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_DEFAULT_TIMEOUT=120
# Third-party packages only from the hashed lock (scripts/lock.py): a file whose SHA-256 is not in
# it is refused. The project's own packages are built with the locked setuptools and added
# without resolving anything more.
COPY requirements/services.lock /tmp/services.lock
RUN python3 -m venv /opt/venv && /opt/venv/bin/python -m pip install -q --require-hashes -r /tmp/services.lock
WORKDIR /src
COPY libs ./libs
COPY services ./services
COPY tools/cli ./tools/cli
COPY tools/devstack ./tools/devstack
RUN /opt/venv/bin/pip wheel -q --no-deps --no-build-isolation -w /wheels libs/contracts libs/runtime tools/cli \
      tools/devstack services/identity services/seats services/notifications services/routing
RUN /opt/venv/bin/pip install -q --no-deps --find-links /wheels crm-contracts crm-runtime \
      crm-identity crm-seats crm-notifications crm-routing && /opt/venv/bin/pip check
# The tools: the CLI (keys, tokens), the development mail server without the rest of the
# development stack's dependencies (plotting, profiling).
RUN python3 -m venv /opt/tools && /opt/tools/bin/python -m pip install -q --require-hashes -r /tmp/services.lock \
    && /opt/tools/bin/pip install -q --no-deps --find-links /wheels crm-contracts crm-runtime \
      crm-identity crm-seats crm-notifications crm-routing crm-cli crm-devstack

# --- runtime: the base plus a user that owns nothing in the image.
FROM ${BASE_IMAGE} AS runtime
RUN useradd --system --uid 10001 --home-dir /nonexistent --shell /usr/sbin/nologin crm
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 HTTP_HOST=0.0.0.0 HTTP_PORT=8000
WORKDIR /tmp

FROM runtime AS tools
COPY --from=builder /opt/tools /opt/tools
ENV PATH=/opt/tools/bin:$PATH
USER 10001

FROM runtime AS service
COPY --from=builder /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
USER 10001
EXPOSE 8000
# /health answers 200 once the service consumes, publishes and reaches its database.
HEALTHCHECK --interval=5s --timeout=3s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"HTTP_PORT\", \"8000\")}/health', timeout=2)"]
CMD ["python", "-m", "crm_identity"]
