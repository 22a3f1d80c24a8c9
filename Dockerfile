# syntax=docker/dockerfile:1
#
# kube-watchcache container image.
#
# Two stages: the builder turns the project and its dependencies into wheels and
# installs them into a virtualenv; the final stage copies only that virtualenv
# onto a clean slim base, so pip, wheels and build caches never ship.
#
# The base is pinned to an exact Python patch release and Debian release. For
# byte-for-byte reproducible builds also pin the digest your registry resolves
# for this tag (`docker buildx imagetools inspect python:3.11.14-slim-bookworm`)
# as `python:3.11.14-slim-bookworm@sha256:<digest>`; it is not written here
# because it could not be verified from the environment this file was made in.
#
# The image is made for a read-only root filesystem: bytecode is compiled at
# build time, nothing writes under /opt or /usr at run time, the SQLite state
# lives under /var/lib/kube-watchcache (an emptyDir or PVC in Kubernetes) and
# scratch files go to /tmp (an emptyDir). There is no HEALTHCHECK: the
# kubelet's probes on /health and /ready are the health checks.

ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src

# Every dependency ships manylinux wheels for amd64 and arm64, so no compiler
# is installed; `pip wheel` fails loudly if that ever stops being true.
COPY pyproject.toml README.md ./
COPY watcher/ watcher/
COPY store/ store/
COPY dispatch/ dispatch/
COPY retry/ retry/
COPY mcpserver/ mcpserver/
COPY simulator/ simulator/

RUN python -m pip wheel --wheel-dir /wheels . \
 && python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-index --find-links /wheels kube-watchcache \
 && /opt/venv/bin/python -m compileall -q /opt/venv/lib \
 && /opt/venv/bin/kube-watchcache --help > /dev/null


FROM ${PYTHON_IMAGE} AS final

LABEL org.opencontainers.image.title="kube-watchcache" \
      org.opencontainers.image.description="Event-driven Kubernetes watch cache in SQLite behind MCP and Prometheus" \
      org.opencontainers.image.licenses="Apache-2.0"

# The venv's interpreter is a symlink to the base image's python, which is why
# both stages start from the same pinned image.
COPY --from=builder /opt/venv /opt/venv

# The data and token directories exist in the image, owned by the runtime user,
# so `docker run` without volumes still starts; in Kubernetes both are mounts.
RUN mkdir -p /var/lib/kube-watchcache /etc/kube-watchcache/tokens \
 && chown 65532:65532 /var/lib/kube-watchcache \
 && chmod 0750 /var/lib/kube-watchcache

ENV PATH=/opt/venv/bin:${PATH} \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TMPDIR=/tmp \
    KUBE_WATCHCACHE_DB=/var/lib/kube-watchcache/state.db

WORKDIR /var/lib/kube-watchcache

# Numeric IDs so the kubelet can verify runAsNonRoot without reading /etc/passwd.
USER 65532:65532

EXPOSE 8080

# The agent handles SIGTERM itself (flush the store, exit 0 within 10 s), so
# it runs as PID 1 without an init shim.
STOPSIGNAL SIGTERM
ENTRYPOINT ["kube-watchcache"]
CMD ["serve", "--host", "0.0.0.0"]
