# syntax=docker/dockerfile:1
# Authara gateway, the reverse proxy in front of core and the app (listens on 3000).
# Build from the repository root:
#   docker build -f deploy/docker/gateway.Dockerfile -t authara-gateway:0.1.0 .
# Installed: authara_contract (shared/), authara_runtime (shared/runtime/) and
# authara_gateway (services/gateway/).

FROM python:3.11.14-slim-bookworm AS build
ENV VIRTUAL_ENV=/opt/authara \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY shared shared
COPY services/gateway services/gateway
# The base image's pip installs into a venv without pip of its own (nothing to upgrade or
# exploit at run time). Every dependency ships wheels for this Python: no compiler needed.
RUN --mount=type=cache,target=/root/.cache/pip \
    python -m venv --without-pip "$VIRTUAL_ENV" \
    && python -m pip --python="$VIRTUAL_ENV/bin/python" install ./shared ./shared/runtime ./services/gateway \
    && python -m pip --python="$VIRTUAL_ENV/bin/python" check

FROM python:3.11.14-slim-bookworm
ARG AUTHARA_VERSION=0.1.0
ARG VCS_REF=unknown
LABEL org.opencontainers.image.title="authara-gateway" \
      org.opencontainers.image.description="Authara gateway: /auth/* to core, the rest to the app, verified identity headers for the app" \
      org.opencontainers.image.version="${AUTHARA_VERSION}" \
      org.opencontainers.image.revision="${VCS_REF}" \
      org.opencontainers.image.base.name="docker.io/library/python:3.11.14-slim-bookworm"
RUN groupadd --system --gid 10001 authara \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin authara
# Same path as in the build stage: the venv's scripts name their interpreter by absolute path.
COPY --from=build /opt/authara /opt/authara
# One JSON object per log line in the image; unset, LOG_FORMAT is text (readable, for dev).
ENV PATH=/opt/authara/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    LOG_FORMAT=json
USER 10001:10001
EXPOSE 3000
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
    CMD ["authara-gateway", "healthcheck"]
ENTRYPOINT ["authara-gateway"]
CMD ["serve"]
