"""The launcher's pure parts: environment, secrets, output prefixing, bootstrap messages."""

from __future__ import annotations

import io
import stat
from collections import deque
from pathlib import Path

import pytest

from deploy import launcher
from deploy.launcher import (
    SERVICES,
    Service,
    VarLayout,
    add_trust_rules,
    amqp_endpoint,
    amqp_url_with_vhost,
    bootstrap_message,
    ensure_secrets,
    infra,
    parse_bootstrap_output,
    parse_endpoint,
    port_base,
    prefix_line,
    process_env,
    process_table,
    pump_lines,
    ready_message,
    service_ports,
)


def layout(tmp_path: Path) -> VarLayout:
    return VarLayout(tmp_path / "run")


# --- ports and environment ---------------------------------------------------------------------


def test_ports_follow_the_base() -> None:
    assert service_ports(8000) == {
        "gateway": 8000,
        "identity": 8101,
        "org": 8102,
        "members": 8103,
        "fees": 8104,
        "activities": 8105,
        "transfers": 8106,
    }
    assert service_ports(20000)["org"] == 20102


def test_port_base_default_and_validation() -> None:
    assert port_base({}) == 8000
    assert port_base({"LEAGUE_PORT_BASE": " 9000 "}) == 9000
    with pytest.raises(ValueError, match="LEAGUE_PORT_BASE"):
        port_base({"LEAGUE_PORT_BASE": "eight"})
    with pytest.raises(ValueError, match="no room"):
        port_base({"LEAGUE_PORT_BASE": "65500"})


def test_process_env_ports_urls_and_files(tmp_path: Path) -> None:
    lay = layout(tmp_path)
    env = process_env({"LEAGUE_PORT_BASE": "9000"}, lay, "s3cret")
    assert env["GATEWAY_PORT"] == "9000"
    assert env["IDENTITY_PORT"] == "9101"
    assert env["TRANSFERS_PORT"] == "9106"
    assert {k: v for k, v in env.items() if k.startswith("GATEWAY_") and k.endswith("_URL")} == {
        "GATEWAY_IDENTITY_URL": "http://127.0.0.1:9101",
        "GATEWAY_ORG_URL": "http://127.0.0.1:9102",
        "GATEWAY_MEMBERS_URL": "http://127.0.0.1:9103",
        "GATEWAY_FEES_URL": "http://127.0.0.1:9104",
        "GATEWAY_ACTIVITIES_URL": "http://127.0.0.1:9105",
        "GATEWAY_TRANSFERS_URL": "http://127.0.0.1:9106",
    }
    assert env["GATEWAY_ORG_URL"] == "http://127.0.0.1:9102"
    assert env["IDENTITY_ORG_URL"] == "http://127.0.0.1:9102"
    assert env["GATEWAY_TRANSFERS_URL"] == "http://127.0.0.1:9106"
    assert env["LEAGUE_INTERNAL_SECRET"] == "s3cret"
    assert env["LEAGUE_VAR_DIR"] == str(lay.root)
    assert env["IDENTITY_JWT_PRIVATE_KEY_FILE"] == str(lay.root / "keys" / "jwt_ed25519.pem")
    assert env["GATEWAY_JWT_PUBLIC_KEY_FILE"] == str(lay.root / "keys" / "jwt_ed25519.pub.pem")
    assert env["ORG_DOCUMENTS_DIR"] == str(lay.root / "documents")


def test_process_env_default_base_is_8000(tmp_path: Path) -> None:
    env = process_env({}, layout(tmp_path), "x")
    assert env["GATEWAY_PORT"] == "8000"
    assert env["GATEWAY_IDENTITY_URL"] == "http://127.0.0.1:8101"


def test_a_new_table_entry_gets_a_port_and_a_route(tmp_path: Path) -> None:
    extra = (*SERVICES, Service("archive", port_offset=107, has_db=True, processes=("api",)))
    env = process_env({}, layout(tmp_path), "x", extra)
    assert env["ARCHIVE_PORT"] == "8107"
    assert env["GATEWAY_ARCHIVE_URL"] == "http://127.0.0.1:8107"


def test_process_table_names_and_ports() -> None:
    specs = {s.name: s for s in process_table(8000)}
    assert set(specs) == {
        "identity-api",
        "identity-events",
        "org-api",
        "org-events",
        "members-api",
        "members-events",
        "fees-api",
        "fees-events",
        "fees-worker",
        "activities-api",
        "activities-events",
        "transfers-api",
        "transfers-events",
        "gateway",
    }
    assert specs["org-api"].port == 8102
    assert specs["org-events"].port is None
    assert specs["gateway"].command == ("zhtj-gateway", "api")
    assert specs["identity-events"].command == ("zhtj-identity", "events")


def test_league_fees_workers_runs_that_many_bill_generators() -> None:
    names = [s.name for s in process_table(8000, env={"LEAGUE_FEES_WORKERS": "3"})]
    assert [n for n in names if "worker" in n] == ["fees-worker", "fees-worker-2", "fees-worker-3"]
    with pytest.raises(ValueError, match="LEAGUE_FEES_WORKERS"):
        process_table(8000, env={"LEAGUE_FEES_WORKERS": "many"})


def test_topology_runs_for_every_service_with_a_relay_or_consumer() -> None:
    assert {s.name for s in SERVICES if s.needs_topology} == {
        "identity",
        "org",
        "members",
        "fees",
        "activities",
        "transfers",
    }
    assert not launcher.GATEWAY.needs_topology
    assert Service("x", 1, False, ("api",), declares_queues=True).needs_topology
    assert {s.name for s in SERVICES if s.has_db} == {
        "identity",
        "org",
        "members",
        "fees",
        "activities",
        "transfers",
    }


def test_var_dir_relative_to_the_repo(tmp_path: Path) -> None:
    assert VarLayout.from_env(tmp_path, {}).root == (tmp_path / ".run").resolve()
    assert VarLayout.from_env(tmp_path, {"LEAGUE_VAR_DIR": "x/y"}).root == (tmp_path / "x/y")
    assert VarLayout.from_env(tmp_path, {"LEAGUE_VAR_DIR": "/abs"}).root == Path("/abs")


def test_endpoints() -> None:
    assert parse_endpoint("postgresql+asyncpg://postgres@127.0.0.1:5432", 5432) == (
        "127.0.0.1",
        5432,
    )
    assert parse_endpoint("postgresql+asyncpg://u:p@db.example", 5432) == ("db.example", 5432)
    assert amqp_endpoint("amqp://guest:guest@127.0.0.1:5672/") == ("127.0.0.1", 5672)
    assert amqp_endpoint("amqps://mq.example/vh") == ("mq.example", 5671)


def test_amqp_url_with_vhost() -> None:
    assert amqp_url_with_vhost("test_ab") == "amqp://guest:guest@127.0.0.1:5672/test_ab"
    assert amqp_url_with_vhost("a/b", "amqp://u:p@h:1/") == "amqp://u:p@h:1/a%2Fb"


# --- secrets -----------------------------------------------------------------------------------


def test_secrets_are_generated_once_and_kept(tmp_path: Path) -> None:
    lay = layout(tmp_path)
    first = ensure_secrets(lay)
    private_pem = lay.jwt_private_key.read_bytes()
    public_pem = lay.jwt_public_key.read_bytes()
    assert len(first.internal_secret) >= 40
    assert b"BEGIN PRIVATE KEY" in private_pem
    assert b"BEGIN PUBLIC KEY" in public_pem
    assert stat.S_IMODE(lay.secrets_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(lay.jwt_private_key.stat().st_mode) == 0o600

    second = ensure_secrets(lay)
    assert second == first
    assert lay.jwt_private_key.read_bytes() == private_pem
    assert lay.jwt_public_key.read_bytes() == public_pem
    assert launcher.read_env_file(lay.secrets_file) == {
        "LEAGUE_INTERNAL_SECRET": first.internal_secret
    }


def test_the_key_pair_matches(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

    lay = layout(tmp_path)
    ensure_secrets(lay)
    private = serialization.load_pem_private_key(lay.jwt_private_key.read_bytes(), None)
    public = serialization.load_pem_public_key(lay.jwt_public_key.read_bytes())
    assert isinstance(private, Ed25519PrivateKey)
    assert isinstance(public, Ed25519PublicKey)
    public.verify(private.sign(b"token"), b"token")


def test_a_lost_public_key_is_derived_again(tmp_path: Path) -> None:
    lay = layout(tmp_path)
    ensure_secrets(lay)
    public_pem = lay.jwt_public_key.read_bytes()
    lay.jwt_public_key.unlink()
    ensure_secrets(lay)
    assert lay.jwt_public_key.read_bytes() == public_pem


def test_loose_permissions_are_tightened(tmp_path: Path) -> None:
    lay = layout(tmp_path)
    ensure_secrets(lay)
    lay.secrets_file.chmod(0o644)
    ensure_secrets(lay)
    assert stat.S_IMODE(lay.secrets_file.stat().st_mode) == 0o600


# --- output ------------------------------------------------------------------------------------


def test_prefix_line() -> None:
    assert (
        prefix_line("org-api", b'{"event": "api_started"}\n')
        == '[org-api] {"event": "api_started"}'
    )
    assert prefix_line("org-relay", "crlf\r\n") == "[org-relay] crlf"
    assert prefix_line("x", "组织\n".encode()) == "[x] 组织"
    assert prefix_line("x", b"\xff\n") == "[x] \ufffd"


def test_pump_lines_prefixes_every_line_and_keeps_a_tail() -> None:
    stream = io.BytesIO(b"one\ntwo\n\nlast without newline")
    written: list[str] = []
    tail: deque[str] = deque(maxlen=2)
    pump_lines("org-api", stream, written.append, tail)
    assert written == [
        "[org-api] one",
        "[org-api] two",
        "[org-api] ",
        "[org-api] last without newline",
    ]
    assert list(tail) == ["[org-api] ", "[org-api] last without newline"]


def test_log_sink_appends_to_a_file(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "system.log"
    sink = launcher.LogSink(path)
    sink.write("[a] 1")
    sink.close()
    sink = launcher.LogSink(path)
    sink.write("[b] 2")
    sink.close()
    assert path.read_text(encoding="utf-8") == "[a] 1\n[b] 2\n"


# --- bootstrap ---------------------------------------------------------------------------------


def test_parse_bootstrap_output_skips_log_lines() -> None:
    out = "\n".join(
        [
            '{"event": "db_connected", "level": "info"}',
            "not json",
            '{"created": true, "username": "admin", "initial_password": "pw", "root_org_id": "r1"}',
            "",
        ]
    )
    assert parse_bootstrap_output(out) == {
        "created": True,
        "username": "admin",
        "initial_password": "pw",
        "root_org_id": "r1",
    }


def test_parse_bootstrap_output_without_a_result() -> None:
    with pytest.raises(ValueError, match="no result line"):
        parse_bootstrap_output('{"event": "x"}\n{broken\n')


def test_message_when_a_password_was_generated() -> None:
    message = bootstrap_message(
        {"created": True, "username": "admin", "initial_password": "Xy7-pw", "root_org_id": "r1"}
    )
    assert "Xy7-pw" in message
    assert "'admin'" in message
    assert "changed at first login" in message


def test_message_when_the_password_came_from_the_environment() -> None:
    message = bootstrap_message({"created": True, "username": "root", "initial_password": None})
    assert "LEAGUE_ADMIN_PASSWORD" in message
    assert "'root'" in message


def test_message_on_a_second_run() -> None:
    message = bootstrap_message({"created": False, "username": "admin", "root_org_id": "r1"})
    assert message.startswith("Already bootstrapped")
    assert "password" not in message.lower()


def test_ready_message_names_the_url_and_how_to_stop(tmp_path: Path) -> None:
    result = {"created": False, "username": "admin"}
    foreground = ready_message("http://127.0.0.1:8000", result, detached_log=None)
    assert "http://127.0.0.1:8000" in foreground
    assert "Ctrl-C stops everything" in foreground
    log = tmp_path / "launcher.log"
    background = ready_message("http://127.0.0.1:8000", result, detached_log=log)
    assert "make down" in background
    assert str(log) in background


def test_describe_exit() -> None:
    assert launcher.describe_exit(3) == "exit code 3"
    assert launcher.describe_exit(-9) == "killed by SIGKILL"


# --- infrastructure helpers --------------------------------------------------------------------


def test_trust_rules_go_before_the_first_rule_and_only_once() -> None:
    hba = "# comment\n\nlocal all postgres peer\nhost all all 127.0.0.1/32 scram-sha-256\n"
    updated = add_trust_rules(hba)
    lines = updated.splitlines()
    first_rule = next(i for i, line in enumerate(lines) if line and not line.startswith("#"))
    assert lines[first_rule].split() == ["host", "all", "all", "127.0.0.1/32", "trust"]
    assert updated.index("trust") < updated.index("scram-sha-256")
    assert add_trust_rules(updated) == updated


def test_install_instructions_name_the_packages() -> None:
    text = launcher.install_instructions(["postgresql", "rabbitmq-server"])
    assert "apt-get install -y postgresql rabbitmq-server" in text
    assert "127.0.0.1/32 trust" in text


class FakeMachine:
    """Nothing listens and nothing is installed, until the launcher's commands change that."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, *, can_apt: bool) -> None:
        self.installed: set[str] = set()
        self.running: set[str] = set()
        self.commands: list[list[str]] = []
        self.trust_configured = False
        self.password_required = False
        m = monkeypatch
        m.setattr(
            infra,
            "postgres_login_works",
            lambda url: not self.password_required or self.trust_configured,
        )
        m.setattr(infra, "tcp_reachable", self.reachable)
        m.setattr(infra, "_run_infra_command", self.run)
        m.setattr(infra, "postgres_clusters", self.clusters)
        m.setattr(infra, "_postgres_versions", lambda: [])
        m.setattr(infra, "_which", self.which)
        m.setattr(infra, "_can_apt_install", lambda: can_apt)
        m.setattr(infra, "_is_root", lambda: can_apt)
        m.setattr(infra, "_configure_postgres_trust", self.configure_trust)

    def reachable(self, host: str, port: int, timeout: float = 1.0) -> bool:
        return {5432: "postgresql", 5672: "rabbitmq-server"}[port] in self.running

    def clusters(self) -> list[tuple[str, str]]:
        return [("15", "main")] if "postgresql" in self.installed else []

    def which(self, name: str) -> str | None:
        return f"/usr/sbin/{name}" if "rabbitmq-server" in self.installed else None

    def configure_trust(self, say: launcher.Say) -> bool:
        self.trust_configured = True
        return True

    def run(self, argv: list[str], say: launcher.Say, *, check: bool = True) -> int:
        self.commands.append(list(argv))
        if argv[:2] == ["apt-get", "install"]:
            self.installed.update(argv[3:])
        elif argv[0] == "pg_ctlcluster" and argv[-1] == "start":
            self.running.add("postgresql")
        elif argv[-1] == "-detached":
            self.running.add("rabbitmq-server")
        return 0


def test_infra_installs_and_starts_as_root_on_debian(monkeypatch: pytest.MonkeyPatch) -> None:
    machine = FakeMachine(monkeypatch, can_apt=True)
    said: list[str] = []
    launcher.ensure_infra({}, said.append)
    assert machine.commands == [
        ["apt-get", "update"],
        ["apt-get", "install", "-y", "postgresql", "rabbitmq-server"],
        ["pg_ctlcluster", "--skip-systemctl-redirect", "15", "main", "start"],
        ["/usr/sbin/rabbitmq-server", "-detached"],
        ["pg_ctlcluster", "--skip-systemctl-redirect", "15", "main", "reload"],
    ]
    assert machine.trust_configured
    assert any("installing postgresql rabbitmq-server" in line for line in said)


def test_infra_starts_what_is_installed_but_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    machine = FakeMachine(monkeypatch, can_apt=True)
    machine.installed = {"postgresql", "rabbitmq-server"}
    machine.running = {"postgresql"}
    launcher.ensure_infra({}, lambda _: None)
    assert machine.commands == [["/usr/sbin/rabbitmq-server", "-detached"]]
    assert not machine.trust_configured


def test_infra_explains_what_to_install_without_root(monkeypatch: pytest.MonkeyPatch) -> None:
    machine = FakeMachine(monkeypatch, can_apt=False)
    machine.installed = {"postgresql"}
    machine.running = {"postgresql"}
    with pytest.raises(launcher.InfraError, match="apt-get install -y rabbitmq-server"):
        launcher.ensure_infra({}, lambda _: None)
    assert machine.commands == []


def test_infra_without_root_says_how_to_start(monkeypatch: pytest.MonkeyPatch) -> None:
    machine = FakeMachine(monkeypatch, can_apt=False)
    machine.installed = {"postgresql", "rabbitmq-server"}
    machine.running = {"rabbitmq-server"}
    with pytest.raises(launcher.InfraError, match="sudo pg_ctlcluster"):
        launcher.ensure_infra({}, lambda _: None)


def test_a_postgres_that_wants_a_password_gets_the_local_trust_rule_as_root(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    machine = FakeMachine(monkeypatch, can_apt=True)
    machine.installed |= {"postgresql", "rabbitmq-server"}
    machine.running |= {"postgresql", "rabbitmq-server"}
    machine.password_required = True
    infra.ensure_infra({}, say=lambda _: None)
    assert machine.trust_configured
    assert [
        "pg_ctlcluster",
        "--skip-systemctl-redirect",
        "15",
        "main",
        "reload",
    ] in machine.commands


def test_without_root_a_refused_login_says_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    machine = FakeMachine(monkeypatch, can_apt=False)
    machine.installed |= {"postgresql", "rabbitmq-server"}
    machine.running |= {"postgresql", "rabbitmq-server"}
    machine.password_required = True
    with pytest.raises(infra.InfraError, match=r"pg_hba\.conf"):
        infra.ensure_infra({}, say=lambda _: None)
