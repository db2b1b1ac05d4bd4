# syntax=docker/dockerfile:1
# Authara migrations: a one-shot job (`authara-migrate up`) that must finish before core starts.
# Build from the repository root:
#   docker build -f deploy/docker/migrations.Dockerfile -t authara-migrations:0.1.0 .
# Installed: authara_contract (shared/), authara_runtime (shared/runtime/) and
# authara_migrations (services/migrations/).

FROM python:3.11.14-slim-bookworm AS build
ENV VIRTUAL_ENV=/opt/authara \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY shared shared
COPY services/migrations services/migrations
# The base image's pip installs into a venv without pip of its own (nothing to upgrade or
# exploit at run time). Every dependency ships wheels for this Python: no compiler needed.
RUN --mount=type=cache,target=/root/.cache/pip \
    python -m venv --without-pip "$VIRTUAL_ENV" \
    && python -m pip --python="$VIRTUAL_ENV/bin/python" install ./shared ./shared/runtime ./services/migrations \
    && python -m pip --python="$VIRTUAL_ENV/bin/python" check

FROM python:3.11.14-slim-bookworm
ARG AUTHARA_VERSION=0.1.0
ARG VCS_REF=unknown
LABEL org.opencontainers.image.title="authara-migrations" \
      org.opencontainers.image.description="Authara migrations: applies the database schema with an advisory lock, then exits" \
      org.opencontainers.image.version="${AUTHARA_VERSION}" \
      org.opencontainers.image.revision="${VCS_REF}" \
      org.opencontainers.image.base.name="docker.io/library/python:3.11.14-slim-bookworm"
RUN groupadd --system --gid 10001 authara \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin authara
# Same path as in the build stage: the venv's scripts name their interpreter by absolute path.
COPY --from=build /opt/authara /opt/authara
ENV PATH=/opt/authara/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
USER 10001:10001
STOPSIGNAL SIGTERM
# A job, not a server: no HEALTHCHECK; `authara-migrate status` exits 0 only at head.
ENTRYPOINT ["authara-migrate"]
CMD ["up"]
