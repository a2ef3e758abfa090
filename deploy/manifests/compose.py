"""docker compose for one machine (trials and demos): PostgreSQL, RabbitMQ with its management
UI, every process of every service as its own compose service (migrations as one-shot services
the others wait for), the OpenTelemetry Collector sending traces to Jaeger, Prometheus scraping
every /metrics with the alert rules, Grafana with the dashboards.

Run from deploy/compose/ (README there): `docker compose up --build`.
"""

from __future__ import annotations

from typing import Any

from deploy.launcher.table import BOOTSTRAP_SERVICE, GATEWAY, SERVICE_CALLS, SERVICES, Service
from deploy.manifests.k8s import HTTP_PORT, k8s_roles

Object = dict[str, Any]

REPO = "../.."  # the build context, seen from deploy/compose/
PUBLIC_KEY = "/var/lib/league/keys/jwt_ed25519.pub.pem"  # identity writes it on first start
IMAGES = {
    "postgres": "postgres:15-bookworm",
    "rabbitmq": "rabbitmq:3.13-management",
    "collector": "otel/opentelemetry-collector-contrib:0.114.0",
    "jaeger": "jaegertracing/all-in-one:1.63.0",
    "prometheus": "prom/prometheus:v2.55.1",
    "grafana": "grafana/grafana:11.3.1",
}
PLATFORM_ENV = {
    # Required, from deploy/compose/.env (README): never a default secret in a file.
    "LEAGUE_INTERNAL_SECRET": "${LEAGUE_INTERNAL_SECRET:?set it in deploy/compose/.env}",
    "LEAGUE_DATABASE_SERVER_URL": "postgresql+asyncpg://postgres:${POSTGRES_PASSWORD:-league}@postgres:5432",
    "LEAGUE_AMQP_URL": "amqp://league:${RABBITMQ_PASSWORD:-league}@rabbitmq:5672/",
    "LEAGUE_LOG_JSON": "true",
    "OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel-collector:4318",
}


def _image(service: Service) -> Object:
    args = {"SERVICE": service.name}
    if service is GATEWAY:
        args["SOURCE"] = "gateway"  # the others are under services/ (the Dockerfile's default)
    build = {"context": REPO, "dockerfile": "Dockerfile", "args": args}
    if service is GATEWAY:
        build["target"] = "gateway"  # the image that carries the web console's build
    return {"image": f"zhtj-{service.name}:local", "build": build}


def _env(service: Service) -> dict[str, str]:
    prefix = service.name.upper()
    env = {
        **PLATFORM_ENV,
        "OTEL_SERVICE_NAME": service.name,
        f"{prefix}_HOST": "0.0.0.0",
        f"{prefix}_PORT": str(HTTP_PORT),
    }
    if service is GATEWAY:
        env.update(
            {f"GATEWAY_{s.name.upper()}_URL": f"http://{s.name}-api:{HTTP_PORT}" for s in SERVICES}
        )
        env["GATEWAY_JWT_PUBLIC_KEY_FILE"] = PUBLIC_KEY
    for caller, callee in SERVICE_CALLS:
        if caller == service.name:
            env[f"{prefix}_{callee.upper()}_URL"] = f"http://{callee}-api:{HTTP_PORT}"
    if service.name == "identity":
        env["IDENTITY_ORG_URL"] = f"http://org-api:{HTTP_PORT}"
    return env


def _volumes(service: Service) -> list[str]:
    if service.name == "identity":
        return ["league-keys:/var/lib/league/keys"]
    if service is GATEWAY:
        return ["league-keys:/var/lib/league/keys:ro"]
    if service.name == "org":
        return ["org-documents:/var/lib/league/documents"]
    return []


def _process(service: Service, role: str, after: dict[str, Object]) -> Object:
    out: Object = {
        **_image(service),
        "command": [role],
        "environment": _env(service),
        "restart": "unless-stopped",
        "read_only": True,
        "tmpfs": ["/tmp", "/var/lib/league"],  # noqa: S108 - mount points on a read-only root
        "depends_on": after,
    }
    volumes = _volumes(service)
    if volumes:
        out["volumes"] = volumes
    if role != "api":
        out["healthcheck"] = {"disable": True}  # no port: the image's check is the API's
    return out


def _infrastructure() -> dict[str, Object]:
    return {
        "postgres": {
            "image": IMAGES["postgres"],
            "environment": {"POSTGRES_PASSWORD": "${POSTGRES_PASSWORD:-league}"},
            "volumes": ["postgres:/var/lib/postgresql/data"],
            "healthcheck": {
                "test": ["CMD", "pg_isready", "-U", "postgres"],
                "interval": "5s",
                "retries": 20,
            },
        },
        "rabbitmq": {
            "image": IMAGES["rabbitmq"],
            "environment": {
                "RABBITMQ_DEFAULT_USER": "league",
                "RABBITMQ_DEFAULT_PASS": "${RABBITMQ_PASSWORD:-league}",
            },
            "ports": ["127.0.0.1:15672:15672"],
            "volumes": ["rabbitmq:/var/lib/rabbitmq"],
            "healthcheck": {
                "test": ["CMD", "rabbitmq-diagnostics", "-q", "check_port_connectivity"],
                "interval": "5s",
                "retries": 30,
            },
        },
        "otel-collector": {
            "image": IMAGES["collector"],
            "command": ["--config=/etc/otelcol/config.yaml"],
            "volumes": ["../observability/collector.yaml:/etc/otelcol/config.yaml:ro"],
            "environment": {"TRACES_ENDPOINT": "jaeger:4317"},
            "depends_on": ["jaeger"],
        },
        "jaeger": {"image": IMAGES["jaeger"], "ports": ["127.0.0.1:16686:16686"]},
        "prometheus": {
            "image": IMAGES["prometheus"],
            "command": ["--config.file=/etc/prometheus/prometheus.yml"],
            "volumes": [
                "./prometheus.yml:/etc/prometheus/prometheus.yml:ro",
                "../observability/alerts.yaml:/etc/prometheus/alerts.yaml:ro",
            ],
            "ports": ["127.0.0.1:9090:9090"],
        },
        "grafana": {
            "image": IMAGES["grafana"],
            "environment": {
                "GF_AUTH_ANONYMOUS_ENABLED": "true",
                "GF_AUTH_ANONYMOUS_ORG_ROLE": "Viewer",
            },
            "volumes": [
                "./grafana:/etc/grafana/provisioning:ro",
                "../observability/dashboards:/var/lib/grafana/dashboards:ro",
            ],
            "ports": ["127.0.0.1:3000:3000"],
            "depends_on": ["prometheus"],
        },
    }


def compose() -> Object:
    services = _infrastructure()
    ready_infra = {
        "postgres": {"condition": "service_healthy"},
        "rabbitmq": {"condition": "service_healthy"},
    }
    for service in SERVICES:
        migrated = {f"{service.name}-migrate": {"condition": "service_completed_successfully"}}
        services[f"{service.name}-migrate"] = {
            **_process(service, "migrate", ready_infra),
            # Tables first, then the queues, before any relay publishes (as `make up` does).
            "entrypoint": ["sh", "-c", "zhtj migrate && zhtj topology"],
            "command": [],
            "restart": "no",
        }
        for role in k8s_roles(service):
            services[f"{service.name}-{role}"] = _process(
                service, role, {**ready_infra, **migrated}
            )
    services[f"{BOOTSTRAP_SERVICE}-bootstrap"] = {
        **_process(
            next(s for s in SERVICES if s.name == BOOTSTRAP_SERVICE),
            "bootstrap",
            {
                "org-api": {"condition": "service_healthy"},
                "identity-api": {"condition": "service_healthy"},
            },
        ),
        "restart": "no",  # idempotent; prints the first admin's password once (docker compose logs)
    }
    services["gateway"] = {
        **_process(
            GATEWAY, "api", {f"{s.name}-api": {"condition": "service_healthy"} for s in SERVICES}
        ),
        "ports": ["127.0.0.1:8000:8080"],
    }
    return {
        "name": "league",
        "services": services,
        "volumes": {name: {} for name in ("postgres", "rabbitmq", "league-keys", "org-documents")},
    }
