"""The Kubernetes base, built from the launcher's process table so that a new service or process
is still one entry in `deploy/launcher/table.py`.

Each service gets: a ConfigMap, a Deployment per role (`api`, `relay`, `consume`, and `worker` for
fees; a cluster scales the relay and the consumers apart, where `make up` runs them together as
`events`), a Service and a PodDisruptionBudget for its API, a NetworkPolicy that lets in only the
gateway and the services that call it, a Job that migrates its database and declares its queues
before a release, and a CloudNativePG `Cluster` with scheduled backups. fees adds the KEDA
`ScaledObject`s and the month's `CronJob`. Nothing secret is written: Secrets are referenced by
name (deploy/README.md lists them).
"""

from __future__ import annotations

from typing import Any

from deploy.launcher.table import BOOTSTRAP_SERVICE, GATEWAY, SERVICE_CALLS, SERVICES, Service

Object = dict[str, Any]

PART_OF = "league"
HTTP_PORT = 8080
UID = 10001  # the image's user (Dockerfile)
RABBITMQ = "league-rabbitmq"  # the RabbitmqCluster; its operator makes `<name>-default-user`
INTERNAL_SECRET = "league-internal"  # noqa: S105 - a Secret's name; key `secret`: the signed caller header's key
JWT_SECRET = "league-jwt"  # noqa: S105 - name; keys `private.pem` (identity), `public.pem` (gateway)
BACKUP_SECRET = "league-backup-s3"  # noqa: S105 - name; keys ACCESS_KEY_ID, ACCESS_SECRET_KEY
OBSERVABILITY_NAMESPACE = "observability"  # the Collector and Prometheus live there
# fees: the month-start work queue (fees.commands.GENERATE_BILLS_QUEUE; a test keeps them equal).
GENERATE_BILLS_QUEUE = "fees.generate-bills"
TIME_ZONE = "Asia/Shanghai"

# Requests from measured figures (bench/request_path.py, bench/payments.py on 2 cores): an idle
# process holds 80-120 MiB, an API at its peak ~250 MiB; an API process saturates about one core
# at 150-250 requests/s, the background roles use a fraction of that. Limits leave room for a
# 10,000-row import (members) and a 5,000-member chunk of bills (fees-worker).
RESOURCES: dict[str, Object] = {
    "api": {
        "requests": {"cpu": "250m", "memory": "192Mi"},
        "limits": {"cpu": "1", "memory": "512Mi"},
    },
    "relay": {
        "requests": {"cpu": "100m", "memory": "128Mi"},
        "limits": {"cpu": "500m", "memory": "256Mi"},
    },
    "consume": {
        "requests": {"cpu": "100m", "memory": "160Mi"},
        "limits": {"cpu": "1", "memory": "384Mi"},
    },
    "worker": {
        "requests": {"cpu": "500m", "memory": "192Mi"},
        "limits": {"cpu": "1", "memory": "512Mi"},
    },
    "job": {
        "requests": {"cpu": "100m", "memory": "128Mi"},
        "limits": {"cpu": "500m", "memory": "256Mi"},
    },
}

# checkov checks that do not fit, each with its reason (a skip annotation on the object).
SKIP_DIGEST = "CKV_K8S_43=images are pinned by tag per release in the overlay (kustomize images)"
# The settings are pydantic-settings read from the environment, and the database and broker
# URLs are composed there from the operators' Secrets (`$(DB_PASSWORD)`), never written down.
SKIP_SECRET_ENV = "CKV_K8S_35=settings read credentials from the environment (pydantic-settings)"  # noqa: S105
SKIP_PROBES = (
    "CKV_K8S_8=no HTTP port: a relay or consumer that loses its broker or database exits "
    "and is restarted",
    "CKV_K8S_9=no HTTP port: it takes no traffic, so there is nothing to be ready for",
)


def labels(component: str, role: str | None = None) -> dict[str, str]:
    out = {"app.kubernetes.io/part-of": PART_OF, "app.kubernetes.io/component": component}
    if role:
        out["app.kubernetes.io/name"] = f"{component}-{role}"
    return out


def meta(name: str, component: str, role: str | None = None, **annotations: str) -> Object:
    out: Object = {"name": name, "labels": labels(component, role)}
    if annotations:
        out["annotations"] = annotations
    return out


def skips(*checks: str) -> dict[str, str]:
    """checkov's skip annotations, each check with its reason; every pod owner skips these two."""
    every = (SKIP_DIGEST, SKIP_SECRET_ENV, *checks)
    return {f"checkov.io/skip{n}": check for n, check in enumerate(every, start=1)}


def k8s_roles(service: Service) -> list[str]:
    """`events` (one process for both) becomes `relay` and `consume` apart in a cluster."""
    roles: list[str] = []
    for role in service.processes:
        roles += ["relay", "consume"] if role == "events" else [role]
    return roles


def image(service: Service) -> str:
    return f"zhtj-{service.name}"  # the overlay's `images:` gives registry and tag


def database(service: Service) -> str:
    return f"league-{service.name}-db"


def env_prefix(service: Service) -> str:
    return service.name.upper()


def _secret_env(name: str, secret: str, key: str) -> Object:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def _env(service: Service) -> list[Object]:
    """Credentials by reference; the URLs the settings expect are composed from them
    (Kubernetes expands `$(VAR)` of variables defined earlier in the list)."""
    env = [
        _secret_env("LEAGUE_INTERNAL_SECRET", INTERNAL_SECRET, "secret"),
        _secret_env("AMQP_USER", f"{RABBITMQ}-default-user", "username"),
        _secret_env("AMQP_PASSWORD", f"{RABBITMQ}-default-user", "password"),
        {
            "name": "LEAGUE_AMQP_URL",
            "value": f"amqp://$(AMQP_USER):$(AMQP_PASSWORD)@{RABBITMQ}:5672/",
        },
    ]
    if service.has_db:
        app_secret = f"{database(service)}-app"  # made by CloudNativePG for the owner
        env += [
            _secret_env("DB_USER", app_secret, "username"),
            _secret_env("DB_PASSWORD", app_secret, "password"),
            {
                "name": f"{env_prefix(service)}_DATABASE_URL",
                "value": (
                    f"postgresql+asyncpg://$(DB_USER):$(DB_PASSWORD)@{database(service)}-rw:5432/"
                    f"league_{service.name}"
                ),
            },
        ]
    if service is GATEWAY:
        # Each pod keeps its own copy of the tree and frozen accounts from its own queue.
        env.append(
            {"name": "GATEWAY_INSTANCE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}
        )
    if service.name == "members":
        env += [
            _secret_env("MEMBERS_ID_KEYS", "members-id-keys", "keys"),
            _secret_env("MEMBERS_ID_ACTIVE_KEY", "members-id-keys", "active"),
            _secret_env("MEMBERS_ID_HASH_KEY", "members-id-keys", "hash"),
        ]
    if service.name == "fees":
        env += [
            _secret_env("FEES_INCOME_KEYS", "fees-income-keys", "keys"),
            _secret_env("FEES_INCOME_ACTIVE_KEY", "fees-income-keys", "active"),
        ]
    return env


def config_map(service: Service) -> Object:
    prefix = env_prefix(service)
    data = {
        f"{prefix}_HOST": "0.0.0.0",
        f"{prefix}_PORT": str(HTTP_PORT),
        "HEALTH_PORT": str(HTTP_PORT),
        "OTEL_SERVICE_NAME": service.name,
    }
    if service is GATEWAY:
        data.update({f"GATEWAY_{s.name.upper()}_URL": f"http://{s.name}" for s in SERVICES})
        data["GATEWAY_JWT_PUBLIC_KEY_FILE"] = "/etc/league/jwt/public.pem"
        # A replaced pod's queue goes 10 minutes after it stopped consuming.
        data["GATEWAY_STATE_QUEUE_EXPIRES_SECONDS"] = "600"
    for caller, callee in SERVICE_CALLS:
        if caller == service.name:
            data[f"{prefix}_{callee.upper()}_URL"] = f"http://{callee}"
    if service.name == "identity":
        data["IDENTITY_JWT_PRIVATE_KEY_FILE"] = "/etc/league/jwt/private.pem"
    if service.name == "org":
        data["ORG_DOCUMENTS_DIR"] = "/var/lib/league/documents"
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta(f"{service.name}-config", service.name),
        "data": data,
    }


def _volumes(service: Service, role: str) -> tuple[list[Object], list[Object]]:
    """(volumes, mounts): a writable /tmp and var dir on a read-only root, and the service's
    own files."""
    volumes: list[Object] = [
        {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}},
        {"name": "var", "emptyDir": {"sizeLimit": "256Mi"}},
    ]
    mounts: list[Object] = [
        {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108 - a mount point, not a temp file
        {"name": "var", "mountPath": "/var/lib/league"},
    ]
    if service.name in {"identity", GATEWAY.name}:
        key = "private.pem" if service.name == "identity" else "public.pem"
        volumes.append(
            {
                "name": "jwt",
                "secret": {"secretName": JWT_SECRET, "items": [{"key": key, "path": key}]},
            }
        )
        mounts.append({"name": "jwt", "mountPath": "/etc/league/jwt", "readOnly": True})
    if service.name == "org" and role == "api":
        volumes.append(
            {"name": "documents", "persistentVolumeClaim": {"claimName": "org-documents"}}
        )
        mounts.append({"name": "documents", "mountPath": "/var/lib/league/documents"})
    return volumes, mounts


def _security() -> tuple[Object, Object]:
    pod = {
        "runAsNonRoot": True,
        "runAsUser": UID,
        "runAsGroup": UID,
        "fsGroup": UID,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    container = {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "privileged": False,
        "capabilities": {"drop": ["ALL"]},
    }
    return pod, container


def _container(service: Service, role: str, args: list[str], mounts: list[Object]) -> Object:
    _, security = _security()
    container: Object = {
        "name": role,
        "image": image(service),
        "imagePullPolicy": "Always",
        "args": args,
        "envFrom": [
            {"configMapRef": {"name": "league-platform"}},
            {"configMapRef": {"name": f"{service.name}-config"}},
        ],
        "env": _env(service),
        "resources": RESOURCES[role if role in RESOURCES else "job"],
        "securityContext": security,
        "volumeMounts": mounts,
    }
    if role == "api":
        container["ports"] = [{"name": "http", "containerPort": HTTP_PORT}]
        probe = {"port": "http"}
        container["startupProbe"] = {
            "httpGet": {"path": "/healthz", **probe},
            "periodSeconds": 2,
            "failureThreshold": 30,
        }
        container["livenessProbe"] = {
            "httpGet": {"path": "/healthz", **probe},
            "periodSeconds": 10,
            "timeoutSeconds": 3,
        }
        # /readyz checks the database: a pod that lost it stops getting requests. The gateway's
        # asks only after its own state: one service down must not empty the gateway's Service.
        ready = "/readyz?scope=self" if service is GATEWAY else "/readyz"
        container["readinessProbe"] = {
            "httpGet": {"path": ready, **probe},
            "periodSeconds": 5,
            "timeoutSeconds": 3,
        }
    return container


def _pod(service: Service, role: str, args: list[str], **spec: Any) -> Object:
    volumes, mounts = _volumes(service, role)
    pod_security, _ = _security()
    return {
        "metadata": {"labels": labels(service.name, role)},
        "spec": {
            "serviceAccountName": "league",
            "automountServiceAccountToken": False,
            "securityContext": pod_security,
            # An API finishes its requests, a consumer its batch (SIGTERM handling).
            "terminationGracePeriodSeconds": 30,
            "containers": [_container(service, role, args, mounts)],
            "volumes": volumes,
            **spec,
        },
    }


def _after_schema(service: Service, pod: Object) -> Object:
    """The pod's process starts only once the database is at its release's schema: applying
    the whole overlay at once is safe, the migration Job goes first by construction."""
    if not service.has_db:
        return pod
    main = pod["spec"]["containers"][0]
    wait = {
        key: value
        for key, value in main.items()
        if key not in {"ports", "startupProbe", "livenessProbe", "readinessProbe"}
    }
    pod["spec"]["initContainers"] = [
        {**wait, "name": "wait-for-schema", "args": ["wait-for-schema", "--timeout", "1800"]}
    ]
    return pod


def deployment(service: Service, role: str) -> Object:
    name = service.name if service is GATEWAY else f"{service.name}-{role}"
    annotations = skips() if role == "api" else skips(*SKIP_PROBES)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta(name, service.name, role, **annotations),
        "spec": {
            "replicas": 2 if role in {"api", "consume"} else 1,
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": labels(service.name, role)},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
            },
            "template": _after_schema(service, _pod(service, role, [role])),
        },
    }


def api_service(service: Service) -> Object:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta(service.name, service.name),
        "spec": {
            "selector": labels(service.name, "api"),
            "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
        },
    }


def disruption_budgets(service: Service) -> list[Object]:
    """A drain keeps one API pod answering; the background roles (relay, consumers, workers)
    lose at most one pod at a time and catch up from their outbox and queues, which a drain of
    a one-pod role still allows."""

    def budget(role: str, spec: Object) -> Object:
        return {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": meta(f"{service.name}-{role}", service.name, role),
            "spec": {**spec, "selector": {"matchLabels": labels(service.name, role)}},
        }

    return [
        budget(role, {"minAvailable": 1} if role == "api" else {"maxUnavailable": 1})
        for role in k8s_roles(service)
    ]


def network_policy(service: Service) -> Object:
    """Who may open a connection to the service's pods: its API only from the gateway and the
    services that call it, /metrics from Prometheus; the gateway from anywhere."""
    metrics_from = {
        "namespaceSelector": {
            "matchLabels": {"kubernetes.io/metadata.name": OBSERVABILITY_NAMESPACE}
        }
    }
    if service is GATEWAY:
        sources: list[Object] = [{}]
    else:
        callers = [GATEWAY.name] + [c for c, callee in SERVICE_CALLS if callee == service.name]
        sources = [
            {"from": [{"podSelector": {"matchLabels": labels(caller)}} for caller in callers]},
            {"from": [metrics_from]},
        ]
    rules = [{**source, "ports": [{"protocol": "TCP", "port": HTTP_PORT}]} for source in sources]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": meta(service.name, service.name),
        "spec": {
            "podSelector": {"matchLabels": labels(service.name)},
            "policyTypes": ["Ingress"],
            "ingress": rules,
        },
    }


def migration_job(service: Service) -> Object:
    """Migrate the database, then declare the queues: applied and awaited before the
    Deployments of a release (deploy/README.md, "Releasing one service")."""
    pod = _pod(service, "job", ["topology"], restartPolicy="Never")
    spec = pod["spec"]
    migrate = {**spec["containers"][0], "name": "migrate", "args": ["migrate"]}
    spec["initContainers"] = [migrate]
    spec["containers"][0]["name"] = "topology"
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": meta(f"{service.name}-migrate", service.name, "migrate", **skips()),
        "spec": {"backoffLimit": 3, "ttlSecondsAfterFinished": 86400, "template": pod},
    }


def bootstrap_job(service: Service) -> Object:
    """The root organisation and the first administrator, once (idempotent: a rerun creates
    nothing). The password comes from the optional Secret `league-first-admin`; without it one is
    generated and printed in the Job's log, to be changed at first login."""
    pod = _pod(service, "job", ["bootstrap"], restartPolicy="OnFailure")
    pod["spec"]["containers"][0]["env"].append(
        {
            "name": "LEAGUE_ADMIN_PASSWORD",
            "valueFrom": {
                "secretKeyRef": {"name": "league-first-admin", "key": "password", "optional": True}
            },
        }
    )
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": meta(f"{service.name}-bootstrap", service.name, "bootstrap", **skips()),
        "spec": {"backoffLimit": 10, "template": pod},
    }


def database_cluster(service: Service) -> list[Object]:
    """One CloudNativePG cluster per service database, backed up every night to object storage
    (the restore of one service alone is in deploy/README.md)."""
    name = database(service)
    cluster = {
        "apiVersion": "postgresql.cnpg.io/v1",
        "kind": "Cluster",
        "metadata": meta(name, service.name),
        "spec": {
            "instances": 3,
            "imageName": "ghcr.io/cloudnative-pg/postgresql:15",
            "primaryUpdateStrategy": "unsupervised",
            "storage": {"size": "20Gi"},
            "bootstrap": {"initdb": {"database": f"league_{service.name}", "owner": service.name}},
            "postgresql": {"parameters": {"max_connections": "400"}},
            "backup": {
                "retentionPolicy": "30d",
                "barmanObjectStore": {
                    "destinationPath": f"s3://league-backups/{name}",
                    "s3Credentials": {
                        "accessKeyId": {"name": BACKUP_SECRET, "key": "ACCESS_KEY_ID"},
                        "secretAccessKey": {"name": BACKUP_SECRET, "key": "ACCESS_SECRET_KEY"},
                    },
                    "wal": {"compression": "gzip"},
                },
            },
            "monitoring": {"enablePodMonitor": True},
        },
    }
    backup = {
        "apiVersion": "postgresql.cnpg.io/v1",
        "kind": "ScheduledBackup",
        "metadata": meta(f"{name}-nightly", service.name),
        # CloudNativePG's cron has seconds: 02:30 every night, away from the month-start peak.
        "spec": {
            "schedule": "0 30 2 * * *",
            "backupOwnerReference": "self",
            "cluster": {"name": name},
        },
    }
    return [cluster, backup]


def fees_scaling(fees: Service) -> list[Object]:
    """The month start scales itself: workers follow the `GenerateBills` queue, with a floor
    held on days 1-3 (Asia/Shanghai) so the first chunks find workers waiting; the API follows
    its CPU through the payment peak.

    Bounds: one worker pass holds a 5,000-member chunk in ~1 s of one core
    (bench/month_start.py), so 16 workers write 1,000,000 bills in well under a minute; each
    keeps LEAGUE_BACKGROUND_DB_POOL_SIZE (6) connections, and 16 x 6 plus 8 APIs x 20 stays
    under the database's max_connections (400). One worker always runs: it also opens the
    cycle and tells overdue remittances every 15 minutes."""
    trigger_auth = {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "TriggerAuthentication",
        "metadata": meta("league-rabbitmq", fees.name),
        # The key `host` holds amqp://user:password@league-rabbitmq:5672/ (deploy/README.md).
        "spec": {
            "secretTargetRef": [
                {"parameter": "host", "name": "league-keda-rabbitmq", "key": "host"}
            ]
        },
    }
    worker = {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": meta("fees-worker", fees.name, "worker"),
        "spec": {
            "scaleTargetRef": {"name": "fees-worker"},
            "minReplicaCount": 1,
            "maxReplicaCount": 16,
            "pollingInterval": 10,
            "cooldownPeriod": 300,
            "triggers": [
                {
                    "type": "rabbitmq",
                    "metadata": {
                        "protocol": "amqp",
                        "queueName": GENERATE_BILLS_QUEUE,
                        "mode": "QueueLength",
                        "value": "4",  # chunks waiting per worker before another starts
                    },
                    "authenticationRef": {"name": "league-rabbitmq"},
                },
                {
                    "type": "cron",
                    "metadata": {
                        "timezone": TIME_ZONE,
                        "start": "0 0 1 * *",
                        "end": "0 0 4 * *",
                        "desiredReplicas": "4",
                    },
                },
            ],
        },
    }
    api = {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": meta("fees-api", fees.name, "api"),
        "spec": {
            "scaleTargetRef": {"name": "fees-api"},
            "minReplicaCount": 2,
            "maxReplicaCount": 8,
            "triggers": [
                {"type": "cpu", "metricType": "Utilization", "metadata": {"value": "70"}},
                {
                    "type": "cron",
                    "metadata": {
                        "timezone": TIME_ZONE,
                        "start": "0 7 1 * *",
                        "end": "0 0 4 * *",
                        "desiredReplicas": "4",
                    },
                },
            ],
        },
    }
    # 00:05 on the 1st in the league's time zone, when the fees-worker's own timer opens it too
    # (fees.worker.OPENS_AT), five minutes after the cron trigger above has scaled the workers
    # up; the command is idempotent, so the second of the two, or a repeated run, is harmless.
    open_cycle = cron_job(fees, "open-cycle", "5 0 1 * *")
    return [trigger_auth, worker, api, open_cycle]


def cron_job(service: Service, command: str, schedule: str) -> Object:
    """`zhtj-<service> <command>` on a schedule in the league's time zone, never two at once."""
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": meta(f"{service.name}-{command}", service.name, command, **skips()),
        "spec": {
            "schedule": schedule,
            "timeZone": TIME_ZONE,
            "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": 3600,
            "jobTemplate": {
                "spec": {
                    "backoffLimit": 3,
                    "template": _after_schema(
                        service, _pod(service, "job", [command], restartPolicy="OnFailure")
                    ),
                }
            },
        },
    }


def pod_monitor(service: Service) -> Object:
    """Prometheus (its Operator) scrapes the API pods' /metrics; `job` is the service's name,
    as the alerts and dashboards group by it (the pods' component label)."""
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PodMonitor",
        "metadata": meta(service.name, service.name, "api"),
        "spec": {
            "jobLabel": "app.kubernetes.io/component",
            "selector": {"matchLabels": labels(service.name, "api")},
            "podMetricsEndpoints": [{"port": "http", "path": "/metrics", "interval": "15s"}],
        },
    }


def service_objects(service: Service) -> list[Object]:
    roles = ["api"] if service is GATEWAY else k8s_roles(service)
    objects = [config_map(service)]
    objects += [deployment(service, role) for role in roles]
    objects += [api_service(service), *disruption_budgets(service), network_policy(service)]
    objects.append(pod_monitor(service))
    if service.has_db:
        objects.append(migration_job(service))
        objects += database_cluster(service)
    if service.name == BOOTSTRAP_SERVICE:
        objects.append(bootstrap_job(service))
    if service.name == "identity":
        # The assessment's month-end snapshot of system usage, for the month that just ended.
        objects.append(cron_job(service, "snapshot-usage", "10 0 1 * *"))
    if service.name == "org":
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": meta("org-documents", service.name),
                # Shared by every org-api replica: ReadWriteMany (NFS, CephFS, a cloud file store).
                "spec": {
                    "accessModes": ["ReadWriteMany"],
                    "resources": {"requests": {"storage": "50Gi"}},
                },
            }
        )
    if service.name == "fees":
        objects += fees_scaling(service)
    return objects


def platform_objects() -> list[Object]:
    """What every service shares: settings, the service account, the broker. (The operators'
    pods, the broker's and the databases' keep the policies their operators set.)"""
    settings = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta("league-platform", "platform"),
        "data": {
            "LEAGUE_DB_PREFIX": "league",
            "LEAGUE_LOG_JSON": "true",
            "LEAGUE_LOG_LEVEL": "INFO",
            "LEAGUE_VAR_DIR": "/var/lib/league",
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://otel-collector.{OBSERVABILITY_NAMESPACE}:4318",
        },
    }
    account = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": meta("league", "platform"),
        "automountServiceAccountToken": False,
    }
    broker = {
        "apiVersion": "rabbitmq.com/v1beta1",
        "kind": "RabbitmqCluster",
        "metadata": meta(RABBITMQ, "platform"),
        "spec": {
            # Three nodes: the quorum queues every service declares keep a majority through
            # the loss of one node.
            "replicas": 3,
            "resources": {
                "requests": {"cpu": "1", "memory": "2Gi"},
                "limits": {"cpu": "2", "memory": "2Gi"},
            },
            "persistence": {"storage": "20Gi"},
            "rabbitmq": {
                "additionalPlugins": ["rabbitmq_prometheus"],
                "additionalConfig": "default_queue_type = quorum\nvm_memory_high_watermark.relative = 0.7\n",
            },
        },
    }
    return [settings, account, broker]


def alert_rules(rules: Object) -> Object:
    """deploy/observability/alerts.yaml as the Prometheus Operator's PrometheusRule: the same
    rules (and the same promtool tests) in a cluster as under `make observe` and compose."""
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": meta("league-alerts", "platform"),
        "spec": {"groups": rules["groups"]},
    }


def collector(config: Object, traces_endpoint: str) -> list[Object]:
    """The OpenTelemetry Collector every pod sends OTLP to (the OpenTelemetry Operator's
    resource; its Service is `<name>-collector`, hence `otel`), with deploy/observability/
    collector.yaml as its configuration: tail sampling keeps every error and remittance."""
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": OBSERVABILITY_NAMESPACE}},
        {
            "apiVersion": "opentelemetry.io/v1beta1",
            "kind": "OpenTelemetryCollector",
            "metadata": {"name": "otel", "labels": labels("observability")},
            "spec": {
                # One replica: tail sampling must see every span of a trace in one place (more
                # replicas need a load-balancing exporter in front, by trace id).
                "mode": "deployment",
                "replicas": 1,
                "resources": {
                    "requests": {"cpu": "500m", "memory": "1Gi"},
                    "limits": {"cpu": "2", "memory": "2Gi"},
                },
                "env": [{"name": "TRACES_ENDPOINT", "value": traces_endpoint}],
                "config": config,
            },
        },
    ]


def base() -> dict[str, list[Object]]:
    """File name -> objects, for deploy/k8s/base/."""
    files = {"platform.yaml": platform_objects()}
    for service in (*SERVICES, GATEWAY):
        files[f"{service.name}.yaml"] = service_objects(service)
    return files
