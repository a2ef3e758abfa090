"""PostgreSQL and RabbitMQ: reachability, start, install; RabbitMQ virtual hosts for tests."""

# Standard library only, like every module the package imports when it loads: `.ci/run` runs
# `python3 -m deploy.launcher infra` with the system python, before the virtual environment exists.

from __future__ import annotations

import os
import shlex
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from deploy.launcher.output import describe_exit
from deploy.launcher.table import LOCALHOST

DEFAULT_DATABASE_SERVER_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432"
DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"

Say = Callable[[str], None]


class InfraError(Exception):
    """PostgreSQL or RabbitMQ is not reachable and the launcher cannot fix that itself."""


def parse_endpoint(url: str, default_port: int) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or LOCALHOST, parts.port or default_port


def amqp_endpoint(url: str) -> tuple[str, int]:
    return parse_endpoint(url, 5671 if url.startswith("amqps:") else 5672)


def tcp_reachable(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _is_local(host: str) -> bool:
    return host in {"127.0.0.1", "localhost", "::1", socket.gethostname()}


def postgres_clusters(etc: Path = Path("/etc/postgresql")) -> list[tuple[str, str]]:
    """(version, cluster) pairs of Debian-style clusters."""
    if not etc.is_dir():
        return []
    return sorted(
        (conf.parent.parent.name, conf.parent.name) for conf in etc.glob("*/*/postgresql.conf")
    )


def _postgres_versions(lib: Path = Path("/usr/lib/postgresql")) -> list[str]:
    return sorted(p.parent.parent.name for p in lib.glob("*/bin/postgres"))


def _which(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin:/usr/local/sbin")


def _is_root() -> bool:
    return os.geteuid() == 0


def _can_apt_install() -> bool:
    return Path("/etc/debian_version").exists() and _is_root() and _which("apt-get") is not None


TRUST_MARKER = "# deploy/launcher.py: local development, the postgres user over TCP"
TRUST_RULES = f"{TRUST_MARKER}\nhost    all    all    127.0.0.1/32    trust\nhost    all    all    ::1/128    trust\n"


def add_trust_rules(pg_hba: str) -> str:
    """pg_hba.conf with password-less TCP from localhost first (the first matching rule wins)."""
    if TRUST_MARKER in pg_hba:
        return pg_hba
    lines = pg_hba.splitlines(keepends=True)
    head = 0
    while head < len(lines) and (not lines[head].strip() or lines[head].lstrip().startswith("#")):
        head += 1
    return "".join([*lines[:head], TRUST_RULES, *lines[head:]])


def install_instructions(missing: Sequence[str]) -> str:
    packages = " ".join(missing)
    return "\n".join(
        [
            f"Not installed: {packages}. The local system needs PostgreSQL and RabbitMQ.",
            "On Debian/Ubuntu either let the launcher install them (as root):",
            "    sudo python3 -m deploy.launcher infra",
            "or do it yourself:",
            f"    sudo apt-get install -y {packages}",
            "    # then, in /etc/postgresql/<version>/main/pg_hba.conf, before the other rules:",
            "    #   host all all 127.0.0.1/32 trust",
            "    sudo pg_ctlcluster <version> main reload",
            "Elsewhere: install PostgreSQL (15+) and RabbitMQ (3.10+), or point",
            "LEAGUE_DATABASE_SERVER_URL and LEAGUE_AMQP_URL at running servers.",
        ]
    )


def _run_infra_command(argv: Sequence[str], say: Say, *, check: bool = True) -> int:
    say(f"$ {shlex.join(argv)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    code = subprocess.run(list(argv), env=env, stdin=subprocess.DEVNULL, check=False).returncode
    if check and code != 0:
        raise InfraError(f"`{shlex.join(argv)}` failed with {describe_exit(code)}")
    return code


def _configure_postgres_trust(say: Say) -> bool:
    changed = False
    for version, cluster in postgres_clusters():
        hba = Path("/etc/postgresql") / version / cluster / "pg_hba.conf"
        if not hba.exists():
            continue
        text = hba.read_text(encoding="utf-8")
        updated = add_trust_rules(text)
        if updated != text:
            say(f"allowing the postgres user over TCP from localhost without a password: {hba}")
            hba.write_text(updated, encoding="utf-8")
            changed = True
    return changed


def _start_postgres(say: Say) -> None:
    clusters = postgres_clusters()
    if not clusters and _is_root():
        for version in _postgres_versions():
            _run_infra_command(["pg_createcluster", version, "main"], say)
        _configure_postgres_trust(say)
        clusters = postgres_clusters()
    if not clusters:
        raise InfraError("PostgreSQL is installed but has no cluster: run `pg_createcluster`.")
    for version, cluster in clusters:
        argv = ["pg_ctlcluster", "--skip-systemctl-redirect", version, cluster, "start"]
        if not _is_root():
            raise InfraError(
                f"PostgreSQL is installed but not running; start it: sudo {shlex.join(argv)}"
            )
        # A cluster that is already running makes this fail; that is fine.
        _run_infra_command(argv, say, check=False)


def _start_rabbitmq(say: Say) -> None:
    argv = [_which("rabbitmq-server") or "rabbitmq-server", "-detached"]
    if not _is_root():
        raise InfraError(
            f"RabbitMQ is installed but not running; start it: sudo {shlex.join(argv)}"
        )
    _run_infra_command(argv, say, check=False)


def _wait_reachable(label: str, host: str, port: int, timeout: float, say: Say) -> None:
    say(f"waiting for {label} on {host}:{port} (up to {timeout:.0f} s)")
    deadline = time.monotonic() + timeout
    while not tcp_reachable(host, port):
        if time.monotonic() > deadline:
            raise InfraError(
                f"{label} did not start listening on {host}:{port} within {timeout:.0f} s"
            )
        time.sleep(0.5)
    say(f"{label} is up on {host}:{port}")


def ensure_infra(env: Mapping[str, str] | None = None, say: Say = print) -> None:
    """Make PostgreSQL and RabbitMQ reachable: start them, or (root on Debian) install them."""
    env = os.environ if env is None else env
    pg = parse_endpoint(env.get("LEAGUE_DATABASE_SERVER_URL") or DEFAULT_DATABASE_SERVER_URL, 5432)
    mq = amqp_endpoint(env.get("LEAGUE_AMQP_URL") or DEFAULT_AMQP_URL)
    pg_up, mq_up = tcp_reachable(*pg), tcp_reachable(*mq)
    if pg_up and mq_up:
        say(f"PostgreSQL ({pg[0]}:{pg[1]}) and RabbitMQ ({mq[0]}:{mq[1]}) are reachable")
        _ensure_postgres_login(
            env.get("LEAGUE_DATABASE_SERVER_URL") or DEFAULT_DATABASE_SERVER_URL, say
        )
        return
    for label, (host, port), up, var in (
        ("PostgreSQL", pg, pg_up, "LEAGUE_DATABASE_SERVER_URL"),
        ("RabbitMQ", mq, mq_up, "LEAGUE_AMQP_URL"),
    ):
        if not up and not _is_local(host):
            raise InfraError(
                f"{label} at {host}:{port} does not answer and is not on this machine: "
                f"start it or correct {var}."
            )
    missing: list[str] = []
    if not pg_up and not (postgres_clusters() or _postgres_versions()):
        missing.append("postgresql")
    if not mq_up and _which("rabbitmq-server") is None:
        missing.append("rabbitmq-server")
    trust_changed = False
    if missing:
        if not _can_apt_install():
            raise InfraError(install_instructions(missing))
        say(f"installing {' '.join(missing)} with apt-get (this takes a minute or two)")
        _run_infra_command(["apt-get", "update"], say)
        _run_infra_command(["apt-get", "install", "-y", *missing], say)
        if "postgresql" in missing:
            trust_changed = _configure_postgres_trust(say)
    if not pg_up and not tcp_reachable(*pg):
        say("starting PostgreSQL")
        _start_postgres(say)
    if not mq_up and not tcp_reachable(*mq):
        say("starting RabbitMQ")
        _start_rabbitmq(say)
    _wait_reachable("PostgreSQL", *pg, timeout=60, say=say)
    _wait_reachable("RabbitMQ", *mq, timeout=90, say=say)
    if trust_changed:
        _reload_postgres(say)
    _ensure_postgres_login(
        env.get("LEAGUE_DATABASE_SERVER_URL") or DEFAULT_DATABASE_SERVER_URL, say
    )


def _reload_postgres(say: Say) -> None:
    for version, cluster in postgres_clusters():
        argv = ["pg_ctlcluster", "--skip-systemctl-redirect", version, cluster, "reload"]
        _run_infra_command(argv, say, check=False)


def postgres_login_works(url: str) -> bool | None:
    """Whether the services will be able to log in; None when it cannot be told (no psql)."""
    psql = _which("psql")
    if psql is None:
        return None
    parts = urlsplit(url.replace("+asyncpg", ""))
    env = {**os.environ, "PGCONNECT_TIMEOUT": "5"}
    if parts.password:
        env["PGPASSWORD"] = parts.password
    argv = [
        psql,
        "-w",
        "-h",
        parts.hostname or "127.0.0.1",
        "-p",
        str(parts.port or 5432),
        "-U",
        parts.username or "postgres",
        "-d",
        "postgres",
        "-tAc",
        "SELECT 1",
    ]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    return done.returncode == 0


def _ensure_postgres_login(url: str, say: Say) -> None:
    """A PostgreSQL installed before us keeps Debian's password rule for TCP: on a developer's
    machine (root, local) add the no-password rule for localhost; otherwise say what to do."""
    if postgres_login_works(url) is not False:
        return
    host = urlsplit(url.replace("+asyncpg", "")).hostname or "127.0.0.1"
    if _is_root() and _is_local(host) and postgres_clusters() and _configure_postgres_trust(say):
        _reload_postgres(say)
        time.sleep(1.0)
        if postgres_login_works(url):
            return
    raise InfraError(
        "PostgreSQL answers but refuses the login. Either put the password in "
        "LEAGUE_DATABASE_SERVER_URL (postgresql+asyncpg://postgres:PASSWORD@127.0.0.1:5432), or, "
        "on a development machine, add to pg_hba.conf and reload:\n"
        "  host    all    all    127.0.0.1/32    trust"
    )


# --------------------------------------------------------------------------------------------
# RabbitMQ virtual hosts for tests
# --------------------------------------------------------------------------------------------


def _rabbitmqctl(*args: str) -> subprocess.CompletedProcess[str]:
    argv = [_which("rabbitmqctl") or "rabbitmqctl", "-q", *args]
    return subprocess.run(
        argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False, timeout=60
    )


def create_vhost(name: str, user: str = "guest") -> None:
    """Create a RabbitMQ virtual host (idempotent) and give `user` every permission on it."""
    for args in (("add_vhost", name), ("set_permissions", "-p", name, user, ".*", ".*", ".*")):
        result = _rabbitmqctl(*args)
        if result.returncode != 0:
            raise RuntimeError(f"rabbitmqctl {' '.join(args)} failed: {result.stderr.strip()}")


def delete_vhost(name: str) -> None:
    """Delete a RabbitMQ virtual host and everything in it; no error if it does not exist."""
    result = _rabbitmqctl("delete_vhost", name)
    if result.returncode != 0 and "does not exist" not in result.stdout + result.stderr:
        raise RuntimeError(f"rabbitmqctl delete_vhost {name} failed: {result.stderr.strip()}")


def amqp_url_with_vhost(vhost: str, base_url: str = DEFAULT_AMQP_URL) -> str:
    """`base_url` pointed at `vhost` (e.g. for LEAGUE_AMQP_URL in a test)."""
    parts = urlsplit(base_url)
    return urlunsplit(parts._replace(path="/" + quote(vhost, safe="")))
