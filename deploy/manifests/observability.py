"""Prometheus scrape configurations and Grafana dashboards, from the same process table: every
API (and the gateway) serves /metrics; a new service gets its scrape job and its RED dashboard
without anyone remembering to add them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from deploy.launcher.table import GATEWAY, SERVICES, service_ports
from deploy.manifests.k8s import GENERATE_BILLS_QUEUE, HTTP_PORT

Object = dict[str, Any]
DATASOURCE = {"type": "prometheus", "uid": "prometheus"}  # provisioned with this uid
PAYMENTS = 'job="fees", route="/bills/{bill_id}/payments", method="POST"'


def prometheus_config(targets: dict[str, str], rules: str) -> Object:
    """One scrape job per service (`job` is the service's name, as the alerts group by it)."""
    return {
        "global": {"scrape_interval": "15s", "evaluation_interval": "15s"},
        "rule_files": [rules],
        "scrape_configs": [
            {"job_name": job, "static_configs": [{"targets": [target]}]}
            for job, target in targets.items()
        ],
    }


def compose_prometheus() -> Object:
    targets = {s.name: f"{s.name}-api:{HTTP_PORT}" for s in SERVICES}
    targets[GATEWAY.name] = f"gateway:{HTTP_PORT}"
    return prometheus_config(targets, "/etc/prometheus/alerts.yaml")


def local_prometheus(base: int, rules: Path) -> Object:
    """For `make observe`: the system `make up` started on this machine."""
    return prometheus_config(
        {name: f"127.0.0.1:{port}" for name, port in service_ports(base).items()}, str(rules)
    )


def _panel(
    title: str, targets: list[tuple[str, str]], x: int, y: int, unit: str = "short", w: int = 12
) -> Object:
    return {
        "type": "timeseries",
        "title": title,
        "datasource": DATASOURCE,
        "gridPos": {"x": x, "y": y, "w": w, "h": 8},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [
            {
                "refId": chr(ord("A") + n),
                "datasource": DATASOURCE,
                "expr": expr,
                "legendFormat": legend,
            }
            for n, (expr, legend) in enumerate(targets)
        ],
    }


def _dashboard(uid: str, title: str, panels: list[Object], tags: list[str]) -> Object:
    for n, panel in enumerate(panels, start=1):
        panel["id"] = n
    return {
        "uid": uid,
        "title": title,
        "tags": ["league", *tags],
        "timezone": "Asia/Shanghai",
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "panels": panels,
    }


def red_dashboard(service: str) -> Object:
    """Rate, errors, duration of one service's routes, and its events: consumer lag, outbox."""
    job = f'job="{service}"'
    panels = [
        _panel(
            "Requests per second by route",
            [(f"sum by (route) (rate(http_requests_total{{{job}}}[1m]))", "{{route}}")],
            0,
            0,
            "reqps",
        ),
        _panel(
            "Server errors (5xx) share",
            [
                (
                    f'sum(rate(http_requests_total{{{job}, status=~"5.."}}[5m])) '
                    f"/ sum(rate(http_requests_total{{{job}}}[5m]))",
                    "5xx",
                ),
                (
                    f'sum(rate(http_requests_total{{{job}, status=~"4.."}}[5m])) '
                    f"/ sum(rate(http_requests_total{{{job}}}[5m]))",
                    "4xx",
                ),
            ],
            12,
            0,
            "percentunit",
        ),
        _panel(
            "Duration p50 / p99 by route",
            [
                (
                    f"histogram_quantile({q}, sum by (route, le) "
                    f"(rate(http_request_seconds_bucket{{{job}}}[5m])))",
                    f"p{int(q * 100)} {{{{route}}}}",
                )
                for q in (0.5, 0.99)
            ],
            0,
            8,
            "s",
        ),
        _panel(
            "Consumer lag (messages waiting) and dead letters",
            [
                # Read from the broker by every pod alike: one pod's figure, not their sum.
                (f"max by (queue) (queue_messages{{{job}}})", "{{queue}}"),
                (f"max by (queue) (dlq_messages{{{job}}})", "DLQ {{queue}}"),
            ],
            12,
            8,
        ),
        _panel(
            "Outbox: unpublished events and the oldest one's age",
            [
                (f"max(outbox_backlog{{{job}}})", "backlog"),
                (f"max(outbox_oldest_seconds{{{job}}})", "oldest (s)"),
            ],
            0,
            16,
            w=24,
        ),
    ]
    return _dashboard(
        f"league-red-{service}", f"{service}: rate, errors, duration", panels, ["red"]
    )


def month_start_dashboard() -> Object:
    """What an operator watches from midnight on the 1st: the cycle, the queue and workers,
    the payments, the events behind them."""
    panels = [
        _panel(
            "Cycle progress (chunks done / total)",
            [
                ('max by (month) (fee_cycle_chunks{state="done"})', "done {{month}}"),
                ('max by (month) (fee_cycle_chunks{state="total"})', "total {{month}}"),
            ],
            0,
            0,
        ),
        _panel(
            "Bills generated per second",
            # Every fees-api pod reads the same cycle row: one pod's figure, not their sum.
            [("max by (month) (deriv(fee_cycle_bills[2m]))", "{{month}}")],
            12,
            0,
            "ops",
        ),
        _panel(
            "GenerateBills queue depth and fees-workers",
            [
                (f'max(queue_messages{{queue="{GENERATE_BILLS_QUEUE}"}})', "chunks waiting"),
                # kube-state-metrics in a cluster; empty under docker compose.
                ('max(kube_deployment_status_replicas{deployment="fees-worker"})', "workers"),
            ],
            0,
            8,
        ),
        _panel(
            "Payments per second (by answer)",
            [(f"sum by (status) (rate(http_requests_total{{{PAYMENTS}}}[1m]))", "{{status}}")],
            12,
            8,
            "reqps",
        ),
        _panel(
            "Payment latency p50 / p99",
            [
                (
                    f"histogram_quantile({q}, sum by (le) "
                    f"(rate(http_request_seconds_bucket{{{PAYMENTS}}}[2m])))",
                    f"p{int(q * 100)}",
                )
                for q in (0.5, 0.99)
            ],
            0,
            16,
            "s",
        ),
        _panel(
            "Outbox backlog and dead letters (every service)",
            [
                ("max by (job) (outbox_backlog)", "outbox {{job}}"),
                ("max by (queue) (dlq_messages) > 0", "DLQ {{queue}}"),
            ],
            12,
            16,
        ),
        _panel(
            "Cycle duration so far and holdings overdue",
            [
                ("max by (month) (fee_cycle_seconds)", "cycle seconds {{month}}"),
                ("max(fee_overdue_holdings)", "holdings overdue"),
            ],
            0,
            24,
            w=24,
        ),
    ]
    return _dashboard("league-month-start", "Month start (月初收缴)", panels, ["fees"])


def dashboards() -> dict[str, Object]:
    """File name -> dashboard, for deploy/observability/dashboards/."""
    files = {"month-start.json": month_start_dashboard()}
    for service in (GATEWAY, *SERVICES):
        files[f"red-{service.name}.json"] = red_dashboard(service.name)
    return files


GRAFANA_DATASOURCES = {
    "apiVersion": 1,
    "datasources": [
        {
            "name": "Prometheus",
            "uid": DATASOURCE["uid"],
            "type": "prometheus",
            "url": "http://prometheus:9090",
            "isDefault": True,
        },
        {"name": "Jaeger", "uid": "jaeger", "type": "jaeger", "url": "http://jaeger:16686"},
    ],
}
GRAFANA_DASHBOARDS = {
    "apiVersion": 1,
    "providers": [
        {
            "name": "league",
            "folder": "智慧团建",
            "type": "file",
            "options": {"path": "/var/lib/grafana/dashboards"},
        }
    ],
}
