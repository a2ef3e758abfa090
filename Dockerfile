# syntax=docker/dockerfile:1.7
# One image per service, the same recipe for all: `SERVICE` picks the package.
#   docker build --build-arg SERVICE=fees -t zhtj-fees:$(git rev-parse --short HEAD) .
#   docker build --target gateway --build-arg SERVICE=gateway --build-arg SOURCE=gateway \
#     -t zhtj-gateway:... .          (the gateway's image also carries the web console's build)
#   docker run zhtj-fees api|events|relay|consume|worker|migrate|topology|open-cycle ...
# Services live in services/<name>/, the gateway in gateway/; migrations and alembic.ini sit
# beside each service's src/ (the CLI finds them there), so the source tree is copied as it is
# and installed in place.
ARG PYTHON_IMAGE=python:3.11.7-slim-bookworm
ARG NODE_IMAGE=node:20.20.2-bookworm-slim

# The web console (gateway/console): npm ci from its lock file, vite build into dist/. Only the
# gateway's target copies it; building a service's image skips this stage.
FROM ${NODE_IMAGE} AS console
WORKDIR /console
COPY gateway/console/package.json gateway/console/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY gateway/console/ ./
RUN npm run build

FROM ${PYTHON_IMAGE} AS build
ARG SERVICE
# Where the package's source is: services/<name>, except the gateway's.
ARG SOURCE=services/${SERVICE}
ARG UV_VERSION=0.13.8
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never \
    PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN test -n "${SERVICE}" || { echo "--build-arg SERVICE=<gateway|identity|org|members|fees|activities|transfers>" >&2; exit 1; }
RUN pip install "uv==${UV_VERSION}"
WORKDIR /app
# Dependencies first, from the lock alone (every member's pyproject is needed to read it), so
# a code change does not reinstall them.
COPY pyproject.toml uv.lock ./
COPY shared/pyproject.toml shared/
COPY gateway/pyproject.toml gateway/
COPY services/identity/pyproject.toml services/identity/
COPY services/org/pyproject.toml services/org/
COPY services/members/pyproject.toml services/members/
COPY services/fees/pyproject.toml services/fees/
COPY services/activities/pyproject.toml services/activities/
COPY services/transfers/pyproject.toml services/transfers/
RUN uv sync --frozen --no-dev --no-install-workspace --package "zhtj-${SERVICE}"
# Then shared and this service only: nothing of the other services is in the image.
COPY shared/ shared/
COPY ${SOURCE}/ ${SOURCE}/
# UV_COMPILE_BYTECODE compiles what is installed, not the workspace's own (editable) sources:
# compiled here, checked by hash (a copy may not keep the mtimes), since the image's Python
# writes no bytecode and would compile them at every start.
RUN uv sync --frozen --no-dev --package "zhtj-${SERVICE}" \
    && ln -s "zhtj-${SERVICE}" /app/.venv/bin/zhtj \
    && .venv/bin/python -m compileall -q --invalidation-mode checked-hash shared/src "${SOURCE}/src"

FROM ${PYTHON_IMAGE} AS runtime
ARG SERVICE
LABEL org.opencontainers.image.title="zhtj-${SERVICE}" \
      org.opencontainers.image.description="智慧团建 ${SERVICE}"
# A fixed non-root uid (Kubernetes runAsNonRoot checks the number); nothing is written to the
# image at run time: uploads and secrets are mounted, /tmp is an emptyDir. The var dir's
# folders exist, owned by that user, so a fresh volume mounted there is writable.
RUN groupadd --system --gid 10001 league \
    && useradd --system --uid 10001 --gid league --home-dir /app --shell /usr/sbin/nologin league \
    && mkdir -p /var/lib/league/keys /var/lib/league/documents \
    && chown -R 10001:10001 /var/lib/league
WORKDIR /app
COPY --from=build --chown=root:root /app /app
ENV PATH="/app/.venv/bin:${PATH}" \
    PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 \
    LEAGUE_VAR_DIR=/var/lib/league \
    HEALTH_PORT=8080
USER 10001:10001
EXPOSE 8080
# The API's liveness; the other roles have no port, so their deployments turn this off
# (docker compose `healthcheck: disable`; Kubernetes ignores HEALTHCHECK and probes itself).
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ['HEALTH_PORT'], timeout=2)"]
ENTRYPOINT ["zhtj"]
CMD ["api"]

# The gateway with the console it serves at / (GATEWAY_CONSOLE_DIR's default place).
FROM runtime AS gateway
COPY --from=console --chown=root:root /console/dist /app/gateway/console/dist

# Every other service: the runtime as it is (the default target, the last stage).
FROM runtime AS service
