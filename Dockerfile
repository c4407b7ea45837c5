# syntax=docker/dockerfile:1
# Clearance's container image: `make image` builds it with docker, podman or buildah.
#
# Two stages: the first builds Clearance's wheel from this checkout and installs it, with every
# extra, into a virtualenv; the runtime stage gets only that virtualenv on the same slim Python.
# The runtime runs as an unprivileged user, writes nothing outside /var/lib/clearance (the SQLite
# default; a volume) and /tmp, so a read-only root filesystem works (deploy/ runs it that way).
#
# The base is pinned by the digest of its multi-arch index (python:3.12.12-slim-bookworm, as
# pinned in public Dockerfiles; refresh it with `docker buildx imagetools inspect`). CI cannot
# pull images, so it builds the same wheel and runs the same entrypoint and deploy/ config from a
# fresh virtualenv instead (tests/e2e/test_image_entrypoint.py, `.ci/install-matrix`).
ARG PYTHON_IMAGE=python:3.12.12-slim-bookworm@sha256:593bd06efe90efa80dc4eee3948be7c0fde4134606dd40d8dd8dbcade98e669c

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src/ src/
RUN python -m pip wheel --no-deps --wheel-dir /dist . \
 && python -m venv /opt/clearance \
 && /opt/clearance/bin/pip install "$(ls /dist/clearance-*.whl)[all]"

FROM ${PYTHON_IMAGE}
RUN groupadd --system --gid 10001 clearance \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/clearance \
      --no-create-home --shell /usr/sbin/nologin clearance \
 && install -d -o 10001 -g 10001 -m 0750 /var/lib/clearance \
 && install -d -m 0755 /etc/clearance
COPY --from=build /opt/clearance /opt/clearance
ENV PATH=/opt/clearance/bin:/usr/local/bin:/usr/bin:/bin \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    CLEARANCE_CONFIG=/etc/clearance/clearance.yaml \
    CLEARANCE_DATABASE_URL=sqlite:////var/lib/clearance/clearance.db
WORKDIR /var/lib/clearance
VOLUME ["/var/lib/clearance"]
USER 10001:10001
EXPOSE 8080
# Liveness over loopback; with --tls-cert the URL is https and the certificate names the
# Service, not 127.0.0.1, hence no verification for this local check.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, ssl, urllib.request as r; r.urlopen(os.environ.get('CLEARANCE_HEALTHCHECK_URL', 'http://127.0.0.1:8080/healthz'), timeout=4, context=ssl._create_unverified_context())"]
# `docker run IMAGE` serves the config mounted at /etc/clearance; `docker run IMAGE check …`,
# `… tokens create …` run any other command.
ENTRYPOINT ["clearance"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080"]
