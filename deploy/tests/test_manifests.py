"""What operators deploy renders, validates and says what matters: the Kubernetes overlays, the
custom resources the month start depends on, the compose file, Prometheus' rules and configs,
the dashboards' queries. The tools come from `make deploy-tools` (deploy/checks/uv.lock, Debian's
promtool); kubectl is the machine's."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploy.launcher.table import BOOTSTRAP_SERVICE, GATEWAY, SERVICE_CALLS, SERVICES
from deploy.manifests import k8s
from fees.commands import GENERATE_BILLS_QUEUE
from fees.worker import OPENS_AT

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
CHECKS = DEPLOY / "checks" / ".venv" / "bin"
OBSERVABILITY = DEPLOY / "observability"
OVERLAYS = ("dev", "province")
CUSTOM_KINDS = {
    "ScaledObject",
    "TriggerAuthentication",
    "Cluster",
    "ScheduledBackup",
    "RabbitmqCluster",
    "PodMonitor",
    "PrometheusRule",
}


def tool(name: str) -> str:
    path = CHECKS / name if (CHECKS / name).exists() else shutil.which(name)
    assert path, (
        f"{name} is missing: `make deploy-tools` installs the linters; kubectl is the machine's (deploy/README.md)"
    )
    return str(path)


def run(
    *args: str, cwd: Path = REPO, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, **(env or {})}
    done = subprocess.run(
        args, cwd=cwd, capture_output=True, text=True, timeout=300, env=environment
    )
    assert done.returncode == 0, f"{' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("k8s")
    files = {}
    for overlay in OVERLAYS:
        files[overlay] = out / f"{overlay}.yaml"
        files[overlay].write_text(
            run(tool("kubectl"), "kustomize", str(DEPLOY / "k8s" / "overlays" / overlay)).stdout
        )
    return files


def objects(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def named(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def test_generated_files_are_current() -> None:
    """The base, the compose file and the dashboards follow the process table."""
    run(sys.executable, "-m", "deploy.manifests", "--check")


def test_every_builtin_object_validates_against_the_kubernetes_schema(
    rendered: dict[str, Path], tmp_path: Path
) -> None:
    for overlay, path in rendered.items():
        builtin = [d for d in objects(path) if d["kind"] not in CUSTOM_KINDS]
        only = tmp_path / f"{overlay}.yaml"
        only.write_text(yaml.safe_dump_all(builtin))
        run(tool("kubernetes-validate"), "--strict", "--quiet", "-k", "1.31.0", str(only))


def test_checkov_finds_nothing_unexplained(rendered: dict[str, Path]) -> None:
    for path in rendered.values():
        # Offline: no guideline download, no mapping look-up (this machine has no internet).
        done = run(
            tool("checkov"), "-f", str(path), "--framework", "kubernetes", "--compact",
            "--skip-download", "-o", "json", env={"BC_SKIP_MAPPING": "TRUE"},
        )  # fmt: skip
        report = json.loads(done.stdout)
        assert report["summary"]["failed"] == 0, report["results"]["failed_checks"]
        # Every skip says why (checkov.io/skipN: CHECK=reason).
        for skipped in report["results"]["skipped_checks"]:
            assert skipped["check_id"] in {"CKV_K8S_43", "CKV_K8S_35", "CKV_K8S_8", "CKV_K8S_9"}


def test_every_process_of_every_service_is_deployed_with_its_image_and_role(
    rendered: dict[str, Path],
) -> None:
    docs = objects(rendered["province"])
    for service in SERVICES:
        roles = k8s.k8s_roles(service)
        assert "events" not in roles and {"api", "relay", "consume"} <= set(roles)
        for role in roles:
            pod = named(docs, "Deployment", f"{service.name}-{role}")["spec"]["template"]["spec"]
            (container,) = pod["containers"]
            assert container["image"].startswith(f"registry.league.example/zhtj-{service.name}:")
            assert container["args"] == [role]
            assert container["securityContext"]["readOnlyRootFilesystem"] is True
            assert pod["securityContext"]["runAsNonRoot"] is True
            if role == "api":
                assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
                assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
            env = {e["name"]: e for e in container["env"]}
            # Credentials only by reference.
            assert "secretKeyRef" in env["DB_PASSWORD"]["valueFrom"]
            assert "value" not in env["LEAGUE_INTERNAL_SECRET"]
        # Migrated, then its queues declared, by a Job that runs before the release.
        job = named(docs, "Job", f"{service.name}-migrate")["spec"]["template"]["spec"]
        assert [c["args"] for c in job["initContainers"] + job["containers"]] == [
            ["migrate"],
            ["topology"],
        ]
        # Nothing of a release runs before its migration: every pod waits for the schema.
        for role in k8s.k8s_roles(service):
            pod = named(docs, "Deployment", f"{service.name}-{role}")["spec"]["template"]["spec"]
            [wait] = pod["initContainers"]
            assert wait["args"][0] == "wait-for-schema" and "readinessProbe" not in wait
            assert wait["image"] == pod["containers"][0]["image"]
        # Every role has a disruption budget: the API keeps a pod, the others lose one at most.
        assert (
            named(docs, "PodDisruptionBudget", f"{service.name}-api")["spec"]["minAvailable"] == 1
        )
        for role in k8s.k8s_roles(service):
            if role != "api":
                budget = named(docs, "PodDisruptionBudget", f"{service.name}-{role}")
                assert budget["spec"]["maxUnavailable"] == 1
    assert named(docs, "Deployment", "fees-worker")
    named(docs, "Job", f"{BOOTSTRAP_SERVICE}-bootstrap")
    gateway = named(docs, "Deployment", GATEWAY.name)
    assert gateway["spec"]["replicas"] == 4
    # Four gateways, four copies of the state: each pod consumes its own queue.
    env = {e["name"]: e for e in gateway["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["GATEWAY_INSTANCE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"


def test_services_take_connections_only_from_the_gateway_and_their_callers(
    rendered: dict[str, Path],
) -> None:
    docs = objects(rendered["province"])
    for service in SERVICES:
        policy = named(docs, "NetworkPolicy", service.name)["spec"]
        pods_allowed = {
            peer["podSelector"]["matchLabels"]["app.kubernetes.io/component"]
            for rule in policy["ingress"]
            for peer in rule["from"]
            if "podSelector" in peer
        }
        callers = {caller for caller, callee in SERVICE_CALLS if callee == service.name}
        assert pods_allowed == {GATEWAY.name, *callers}
        assert policy["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == service.name


def test_the_month_start_scales_fees_workers_on_the_queue_and_the_calendar(
    rendered: dict[str, Path],
) -> None:
    for overlay, path in rendered.items():
        docs = objects(path)
        worker = named(docs, "ScaledObject", "fees-worker")["spec"]
        assert worker["scaleTargetRef"]["name"] == "fees-worker"
        # One always runs: it opens the cycle and tells overdue remittances.
        assert worker["minReplicaCount"] >= 1 and worker["maxReplicaCount"] >= 2
        by_type = {t["type"]: t for t in worker["triggers"]}
        assert by_type["rabbitmq"]["metadata"]["queueName"] == GENERATE_BILLS_QUEUE
        named(docs, "TriggerAuthentication", by_type["rabbitmq"]["authenticationRef"]["name"])
        cron = by_type["cron"]["metadata"]
        assert cron["timezone"] == "Asia/Shanghai"
        assert cron["start"].split()[2] == "1" and cron["end"].split()[2] == "4"
        assert int(cron["desiredReplicas"]) <= worker["maxReplicaCount"]
        api = named(docs, "ScaledObject", "fees-api")["spec"]
        assert {t["type"] for t in api["triggers"]} >= {"cpu"}
        cycle = named(docs, "CronJob", "fees-open-cycle")["spec"]
        # On the 1st, Beijing time, when the workers' own timer opens the month too.
        opens = f"{OPENS_AT.minute} {OPENS_AT.hour} 1 * *"
        assert cycle["timeZone"] == "Asia/Shanghai" and cycle["schedule"] == opens
        (container,) = cycle["jobTemplate"]["spec"]["template"]["spec"]["containers"]
        assert container["args"] == ["open-cycle"], overlay


def test_the_broker_and_the_databases_are_the_operators_resources(
    rendered: dict[str, Path],
) -> None:
    expected = {"dev": (1, 1), "province": (3, 3)}
    for overlay, path in rendered.items():
        docs = objects(path)
        nodes, instances = expected[overlay]
        broker = named(docs, "RabbitmqCluster", k8s.RABBITMQ)["spec"]
        assert broker["replicas"] == nodes
        assert "default_queue_type = quorum" in broker["rabbitmq"]["additionalConfig"]
        for service in SERVICES:
            assert service.has_db
            cluster = named(docs, "Cluster", k8s.database(service))["spec"]
            assert cluster["instances"] == instances
            assert cluster["bootstrap"]["initdb"]["database"] == f"league_{service.name}"
            store = cluster["backup"]["barmanObjectStore"]
            assert store["s3Credentials"]["accessKeyId"]["name"] == k8s.BACKUP_SECRET
            backup = named(docs, "ScheduledBackup", f"{k8s.database(service)}-nightly")["spec"]
            assert backup["cluster"]["name"] == k8s.database(service)


def test_nothing_secret_is_in_the_manifests(rendered: dict[str, Path]) -> None:
    for path in rendered.values():
        assert not [d for d in objects(path) if d["kind"] == "Secret"]


def test_compose_runs_every_process_after_its_migration() -> None:
    compose = yaml.safe_load((DEPLOY / "compose" / "compose.yaml").read_text())
    services = compose["services"]
    for service in SERVICES:
        migrate = services[f"{service.name}-migrate"]
        assert migrate["entrypoint"][-1] == "zhtj migrate && zhtj topology"
        for role in k8s.k8s_roles(service):
            process = services[f"{service.name}-{role}"]
            assert process["command"] == [role]
            assert process["depends_on"][f"{service.name}-migrate"] == {
                "condition": "service_completed_successfully"
            }
            assert process["build"]["args"]["SERVICE"] == service.name
    for name, spec in services.items():
        for after in spec.get("depends_on", []):
            assert after in services, f"{name} waits for {after}, which is not defined"
    assert services["gateway"]["build"]["args"] == {"SERVICE": "gateway", "SOURCE": "gateway"}
    assert services["gateway"]["build"]["target"] == "gateway"  # with the console's build
    assert (
        "${LEAGUE_INTERNAL_SECRET:?" in services["gateway"]["environment"]["LEAGUE_INTERNAL_SECRET"]
    )


def test_alert_rules_check_and_pass_their_tests() -> None:
    promtool = tool("promtool")
    run(promtool, "check", "rules", "alerts.yaml", cwd=OBSERVABILITY)
    run(promtool, "test", "rules", "alerts.test.yaml", cwd=OBSERVABILITY)
    rules = yaml.safe_load((OBSERVABILITY / "alerts.yaml").read_text())["groups"][0]["rules"]
    readme = (DEPLOY / "README.md").read_text().lower()
    for rule in rules:
        # Each alert has its runbook section (markdown anchors are lower-case titles).
        assert f"### {rule['alert'].lower()}" in readme, rule["alert"]


def test_prometheus_configurations_are_valid(tmp_path: Path) -> None:
    promtool = tool("promtool")
    local = tmp_path / "prometheus.yml"
    run(sys.executable, "-m", "deploy.manifests", "local-prometheus", str(local))
    run(promtool, "check", "config", str(local))
    jobs = {job["job_name"] for job in yaml.safe_load(local.read_text())["scrape_configs"]}
    assert jobs == {GATEWAY.name, *(s.name for s in SERVICES)}
    run(promtool, "check", "config", "--syntax-only", str(DEPLOY / "compose" / "prometheus.yml"))


def test_every_dashboard_query_is_valid_promql(tmp_path: Path) -> None:
    """promtool parses each panel's expression as a recording rule."""
    expressions = []
    for path in sorted((OBSERVABILITY / "dashboards").glob("*.json")):
        dashboard = json.loads(path.read_text())
        assert dashboard["uid"] and dashboard["panels"]
        expressions += [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    rules = {
        "groups": [
            {
                "name": "dashboards",
                "rules": [
                    {"record": f"dashboard:q{n}", "expr": e} for n, e in enumerate(expressions)
                ],
            }
        ]
    }
    (tmp_path / "queries.yaml").write_text(yaml.safe_dump(rules))
    run(tool("promtool"), "check", "rules", str(tmp_path / "queries.yaml"))
    assert any(GENERATE_BILLS_QUEUE in e for e in expressions)


def test_the_collector_keeps_errors_and_remittances() -> None:
    config = yaml.safe_load((OBSERVABILITY / "collector.yaml").read_text())
    policies = {p["name"]: p for p in config["processors"]["tail_sampling"]["policies"]}
    assert policies["errors"]["status_code"]["status_codes"] == ["ERROR"]
    assert policies["remittances"]["string_attribute"]["values"] == ["fee.remitted"]
    assert 0 < policies["baseline"]["probabilistic"]["sampling_percentage"] < 100
    pipeline = config["service"]["pipelines"]["traces"]
    assert pipeline["processors"].index("tail_sampling") < pipeline["processors"].index("batch")


def test_a_cluster_scrapes_every_api_and_alerts_by_the_same_rules(
    rendered: dict[str, Path],
) -> None:
    docs = objects(rendered["province"])
    for service in (*SERVICES, GATEWAY):
        monitor = named(docs, "PodMonitor", service.name)["spec"]
        assert monitor["jobLabel"] == "app.kubernetes.io/component"  # job = the service's name
        assert monitor["selector"]["matchLabels"]["app.kubernetes.io/name"] == f"{service.name}-api"
        assert monitor["podMetricsEndpoints"] == [
            {"port": "http", "path": "/metrics", "interval": "15s"}
        ]
    rules = yaml.safe_load((OBSERVABILITY / "alerts.yaml").read_text())
    assert named(docs, "PrometheusRule", "league-alerts")["spec"]["groups"] == rules["groups"]


def test_the_collector_is_deployed_where_every_pod_sends_its_spans(
    rendered: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "observability.yaml"
    out.write_text(run(tool("kubectl"), "kustomize", str(DEPLOY / "k8s" / "observability")).stdout)
    docs = objects(out)
    found = named(docs, "OpenTelemetryCollector", "otel")
    assert found["metadata"]["namespace"] == "observability"
    # The operator names its Service <name>-collector: the address every pod exports to.
    settings = named(objects(rendered["province"]), "ConfigMap", "league-platform")["data"]
    assert settings["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector.observability:4318"
    config = yaml.safe_load((OBSERVABILITY / "collector.yaml").read_text())
    assert found["spec"]["config"] == config and found["spec"]["replicas"] == 1
