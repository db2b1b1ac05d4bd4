# syntax=docker/dockerfile:1
# Authara core, the authentication server (listens on 8080). Build from the repository root:
#   docker build -f deploy/docker/core.Dockerfile -t authara-core:0.1.0 .
# Installed: authara_contract (shared/), authara_runtime (shared/runtime/) and
# authara_core (services/core/).

FROM python:3.11.14-slim-bookworm AS build
ENV VIRTUAL_ENV=/opt/authara \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY shared shared
COPY services/core services/core
# The base image's pip installs into a venv without pip of its own (nothing to upgrade or
# exploit at run time). Every dependency ships wheels for this Python: no compiler needed.
RUN --mount=type=cache,target=/root/.cache/pip \
    python -m venv --without-pip "$VIRTUAL_ENV" \
    && python -m pip --python="$VIRTUAL_ENV/bin/python" install ./shared ./shared/runtime ./services/core \
    && python -m pip --python="$VIRTUAL_ENV/bin/python" check

FROM python:3.11.14-slim-bookworm
ARG AUTHARA_VERSION=0.1.0
ARG VCS_REF=unknown
LABEL org.opencontainers.image.title="authara-core" \
      org.opencontainers.image.description="Authara core: login, signup and logout pages, the JSON API, sessions and tokens" \
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
EXPOSE 8080
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["authara-core", "healthcheck"]
ENTRYPOINT ["authara-core"]
CMD ["serve"]
