# syntax=docker/dockerfile:1
# The demo app that deploy/compose puts behind the gateway as "app" (listens on 8000).
# It stands in for your application and is not one of Authara's three images.
# Build from the repository root:
#   docker build -f deploy/docker/demo.Dockerfile -t authara-demo:0.1.0 .
# The demo lives in the dev-stack package, whose other dependencies (an embedded PostgreSQL,
# core, gateway, migrations) it does not use: it is installed without them, plus what
# authara_devstack.demo imports. The image dry run (tests/e2e) proves this set is enough.

FROM python:3.11.14-slim-bookworm AS build
ENV VIRTUAL_ENV=/opt/authara \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY shared shared
COPY services/devstack services/devstack
RUN --mount=type=cache,target=/root/.cache/pip \
    python -m venv --without-pip "$VIRTUAL_ENV" \
    && python -m pip --python="$VIRTUAL_ENV/bin/python" install ./shared "aiohttp>=3.14,<4" "jinja2>=3.1" \
    && python -m pip --python="$VIRTUAL_ENV/bin/python" install --no-deps ./services/devstack

FROM python:3.11.14-slim-bookworm
ARG AUTHARA_VERSION=0.1.0
ARG VCS_REF=unknown
LABEL org.opencontainers.image.title="authara-demo" \
      org.opencontainers.image.description="Authara demo app: shows the identity the gateway forwards (an example, not for production)" \
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
EXPOSE 8000
STOPSIGNAL SIGTERM
ENTRYPOINT ["authara-demo"]
