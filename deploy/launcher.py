"""Local launcher: infrastructure, secrets, migrations, topology, every process, bootstrap.

    .venv/bin/python -m deploy.launcher up            # foreground; Ctrl-C stops everything
    .venv/bin/python -m deploy.launcher up --detach   # background; log in .run/logs/launcher.log
    .venv/bin/python -m deploy.launcher down          # stop a background (or other) launcher
    python3 -m deploy.launcher infra                  # only make PostgreSQL and RabbitMQ reachable
    eval "$(.venv/bin/python -m deploy.launcher env)" # the environment the launcher gives services

Standard library only, so that `infra` and `down` also run with the system python before the
virtual environment exists; `cryptography` (from the venv) is imported only where the JWT key
pair is generated. End-to-end tests drive the same implementation through `System`.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import fcntl
import io
import json
import os
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO, Any, Literal, TextIO
from urllib.parse import quote, urlsplit, urlunsplit

Role = Literal["api", "relay", "consume"]


@dataclass(frozen=True)
class Service:
    """One deployable: its port (base + offset), whether it owns a database, its processes."""

    name: str
    port_offset: int
    has_db: bool
    processes: tuple[Role, ...]
    # Set when a process other than `consume` (say the API) consumes events: its
    # `zhtj-<name> topology` then runs before any relay starts, like the consumers' does.
    declares_queues: bool = False

    @property
    def needs_topology(self) -> bool:
        """Queues (and the exchanges) must exist before any relay publishes."""
        return self.declares_queues or "relay" in self.processes or "consume" in self.processes


# THE process table: a new process or service is one entry here.
SERVICES: tuple[Service, ...] = (
    Service("identity", port_offset=101, has_db=True, processes=("api", "relay", "consume")),
    Service("org", port_offset=102, has_db=True, processes=("api", "relay")),
    Service("members", port_offset=103, has_db=False, processes=("api",)),
    Service("fees", port_offset=104, has_db=False, processes=("api",)),
    Service("activities", port_offset=105, has_db=False, processes=("api",)),
    Service("transfers", port_offset=106, has_db=False, processes=("api",)),
)
GATEWAY = Service("gateway", port_offset=0, has_db=False, processes=("api",))
# Direct HTTP calls between services (caller, callee): the caller gets `<CALLER>_<CALLEE>_URL`.
SERVICE_CALLS: tuple[tuple[str, str], ...] = (("identity", "org"),)
# The service whose `bootstrap` command creates the root organisation and the first admin.
BOOTSTRAP_SERVICE = "identity"

DEFAULT_PORT_BASE = 8000
LOCALHOST = "127.0.0.1"
DEFAULT_DATABASE_SERVER_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432"
DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
SECRET_VAR = "LEAGUE_INTERNAL_SECRET"  # noqa: S105 - a variable name, not a secret
REPO_ROOT = Path(__file__).resolve().parents[1]

STOP_TIMEOUT = 10.0  # SIGTERM, then SIGKILL after this many seconds
READY_TIMEOUT = 90.0  # every API answers /healthz within this
COMMAND_TIMEOUT = 300.0  # migrate, topology, bootstrap
MIN_UPTIME = 1.0  # a relay or consumer counts as started once it survived this long
TAIL_LINES = 200  # kept per process for error reports

Say = Callable[[str], None]


# --------------------------------------------------------------------------------------------
# The environment every process gets
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProcessSpec:
    name: str  # "identity-api", "org-relay", "gateway"
    service: str
    role: Role
    port: int | None  # the HTTP port of an API

    @property
    def command(self) -> tuple[str, str]:
        return (f"zhtj-{self.service}", self.role)


def port_base(env: Mapping[str, str]) -> int:
    raw = env.get("LEAGUE_PORT_BASE", "").strip()
    if not raw:
        return DEFAULT_PORT_BASE
    try:
        base = int(raw)
    except ValueError:
        raise ValueError(f"LEAGUE_PORT_BASE must be a number, not {raw!r}") from None
    if not 1 <= base <= 65535 - 200:
        raise ValueError(f"LEAGUE_PORT_BASE {base} leaves no room for the service ports")
    return base


def service_ports(base: int, services: Sequence[Service] = SERVICES) -> dict[str, int]:
    """Gateway = base, each service = base + its offset."""
    ports = {GATEWAY.name: base + GATEWAY.port_offset}
    ports.update({s.name: base + s.port_offset for s in services})
    return ports


def process_table(base: int, services: Sequence[Service] = SERVICES) -> list[ProcessSpec]:
    ports = service_ports(base, services)
    specs = [
        ProcessSpec(f"{s.name}-{role}", s.name, role, ports[s.name] if role == "api" else None)
        for s in services
        for role in s.processes
    ]
    specs.append(ProcessSpec(GATEWAY.name, GATEWAY.name, "api", ports[GATEWAY.name]))
    return specs


def url_for(port: int) -> str:
    return f"http://{LOCALHOST}:{port}"


@dataclass(frozen=True)
class VarLayout:
    """What lives in the var dir (`LEAGUE_VAR_DIR`, default `<repo>/.run`)."""

    root: Path

    @classmethod
    def from_env(cls, repo_root: Path, env: Mapping[str, str]) -> VarLayout:
        raw = env.get("LEAGUE_VAR_DIR", "").strip()
        path = Path(raw).expanduser() if raw else Path(".run")
        return cls((path if path.is_absolute() else repo_root / path).resolve())

    @property
    def secrets_file(self) -> Path:
        return self.root / "secrets.env"

    @property
    def keys_dir(self) -> Path:
        return self.root / "keys"

    @property
    def jwt_private_key(self) -> Path:
        return self.keys_dir / "jwt_ed25519.pem"

    @property
    def jwt_public_key(self) -> Path:
        return self.keys_dir / "jwt_ed25519.pub.pem"

    @property
    def documents_dir(self) -> Path:
        return self.root / "documents"

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    @property
    def launcher_log(self) -> Path:
        return self.logs_dir / "launcher.log"

    @property
    def pid_file(self) -> Path:
        return self.root / "launcher.pid"


def process_env(
    env: Mapping[str, str],
    layout: VarLayout,
    internal_secret: str,
    services: Sequence[Service] = SERVICES,
) -> dict[str, str]:
    """Every variable the launcher sets for its processes (on top of the inherited ones).

    The one place the names live: a service that needs another setting gets it here.
    """
    base = port_base(env)
    ports = service_ports(base, services)
    out = {
        "LEAGUE_PORT_BASE": str(base),
        "LEAGUE_VAR_DIR": str(layout.root),
        SECRET_VAR: internal_secret,
        "IDENTITY_JWT_PRIVATE_KEY_FILE": str(layout.jwt_private_key),
        "GATEWAY_JWT_PUBLIC_KEY_FILE": str(layout.jwt_public_key),
        "ORG_DOCUMENTS_DIR": str(layout.documents_dir),
        # Log lines reach the launcher as they are written, not when a buffer fills.
        "PYTHONUNBUFFERED": "1",
    }
    for name, port in ports.items():
        out[f"{name.upper()}_PORT"] = str(port)
    urls = {s.name: url_for(ports[s.name]) for s in services}
    # The gateway's settings take one variable per service (`GATEWAY_ORG_URL`).
    out.update({f"GATEWAY_{name.upper()}_URL": url for name, url in urls.items()})
    # Service-to-service calls: `<CALLER>_<CALLEE>_URL`.
    for caller, callee in SERVICE_CALLS:
        if callee in urls:
            out[f"{caller.upper()}_{callee.upper()}_URL"] = urls[callee]
    return out


# --------------------------------------------------------------------------------------------
# Secrets: generated once per installation, kept across restarts
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Secrets:
    internal_secret: str
    jwt_private_key: Path
    jwt_public_key: Path


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _write_atomically(path: Path, content: bytes, mode: int) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, content)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def read_env_file(path: Path) -> dict[str, str]:
    """`KEY=VALUE` lines (comments and blanks skipped); empty when the file does not exist."""
    if not path.exists():
        return {}
    values: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        values[key.strip().removeprefix("export ").strip()] = value.strip().strip("'\"")
    return values


def _ensure_jwt_keys(layout: VarLayout) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    layout.keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(layout.keys_dir, 0o700)
    private_path, public_path = layout.jwt_private_key, layout.jwt_public_key
    if private_path.exists():
        os.chmod(private_path, 0o600)
        if public_path.exists():
            return
        loaded = serialization.load_pem_private_key(private_path.read_bytes(), password=None)
        if not isinstance(loaded, Ed25519PrivateKey):
            raise ValueError(f"{private_path} is not an Ed25519 private key")
        key = loaded
    else:
        key = Ed25519PrivateKey.generate()
        private_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        _write_atomically(private_path, private_pem, 0o600)
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    _write_atomically(public_path, public_pem, 0o644)


def ensure_secrets(layout: VarLayout) -> Secrets:
    """Create the internal secret and the JWT key pair unless they exist; return them."""
    layout.root.mkdir(parents=True, exist_ok=True)
    with _file_lock(layout.root / ".secrets.lock"):
        secret = read_env_file(layout.secrets_file).get(SECRET_VAR, "")
        if secret:
            os.chmod(layout.secrets_file, 0o600)
        else:
            secret = secrets.token_urlsafe(48)
            previous = (
                layout.secrets_file.read_text(encoding="utf-8")
                if layout.secrets_file.exists()
                else "# Generated once by deploy/launcher.py; keep it, never commit it.\n"
            )
            if previous and not previous.endswith("\n"):
                previous += "\n"
            _write_atomically(
                layout.secrets_file, f"{previous}{SECRET_VAR}={secret}\n".encode(), 0o600
            )
        _ensure_jwt_keys(layout)
    return Secrets(secret, layout.jwt_private_key, layout.jwt_public_key)


# --------------------------------------------------------------------------------------------
# Output: every process's lines, prefixed with its name
# --------------------------------------------------------------------------------------------


def prefix_line(name: str, raw: bytes | str) -> str:
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
    return f"[{name}] {text.rstrip(chr(13) + chr(10))}"


def pump_lines(
    name: str, stream: IO[bytes], write: Callable[[str], None], tail: deque[str] | None = None
) -> None:
    """Copy `stream` line by line to `write`, each line prefixed; until end of file."""
    for raw in iter(stream.readline, b""):
        line = prefix_line(name, raw)
        if tail is not None:
            tail.append(line)
        write(line)


class LogSink:
    """Where the launcher writes: a file (appended) or a text stream (default stdout)."""

    def __init__(self, target: Path | str | TextIO | None = None) -> None:
        self._lock = threading.Lock()
        self._owned = False
        if target is None:
            self._stream: TextIO = sys.stdout
        elif isinstance(target, str | Path):
            path = Path(target)
            path.parent.mkdir(parents=True, exist_ok=True)
            self._stream = path.open("a", encoding="utf-8", buffering=1)
            self._owned = True
        else:
            self._stream = target

    def write(self, line: str) -> None:
        with self._lock:
            try:
                self._stream.write(line + "\n")
            except UnicodeEncodeError:
                self._stream.write(line.encode("ascii", "backslashreplace").decode() + "\n")
            except ValueError:  # closed
                return
            self._stream.flush()

    def close(self) -> None:
        if self._owned:
            with self._lock:
                self._stream.close()


# --------------------------------------------------------------------------------------------
# Bootstrap result and messages
# --------------------------------------------------------------------------------------------


def parse_bootstrap_output(stdout: str) -> dict[str, Any]:
    """The result line of `zhtj-identity bootstrap`: the last JSON object with "created"."""
    for line in reversed(stdout.splitlines()):
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict) and "created" in value:
            return value
    raise ValueError('bootstrap printed no result line (a JSON object with "created")')


def bootstrap_message(result: Mapping[str, Any]) -> str:
    username = result.get("username") or "admin"
    root = result.get("root_org_id")
    if not result.get("created"):
        root_part = f" (root organisation id {root})" if root else ""
        return (
            f"Already bootstrapped: administrator '{username}' exists{root_part}; "
            "nothing was created."
        )
    root_part = f" (id {root})" if root else ""
    lines = [f"Bootstrapped the root organisation{root_part} and administrator '{username}'."]
    password = result.get("initial_password")
    if password:
        lines.append(f"  Initial password of '{username}': {password}")
        lines.append("  It is shown only now and must be changed at first login.")
    else:
        lines.append("  Its password is the one given in LEAGUE_ADMIN_PASSWORD.")
    return "\n".join(lines)


def ready_message(gateway: str, bootstrap: Mapping[str, Any], *, detached_log: Path | None) -> str:
    rule = "=" * 72
    how_to_stop = (
        f"`make down` stops everything (log: {detached_log})."
        if detached_log is not None
        else "Ctrl-C stops everything."
    )
    return "\n".join(
        [rule, f"智慧团建 is up: {gateway}", bootstrap_message(bootstrap), how_to_stop, rule]
    )


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


# --------------------------------------------------------------------------------------------
# Infrastructure: PostgreSQL and RabbitMQ (stdlib only; runs with the system python)
# --------------------------------------------------------------------------------------------


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
        for version, cluster in postgres_clusters():
            argv = ["pg_ctlcluster", "--skip-systemctl-redirect", version, cluster, "reload"]
            _run_infra_command(argv, say, check=False)


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


# --------------------------------------------------------------------------------------------
# The system: every process of every service
# --------------------------------------------------------------------------------------------


class StartupError(Exception):
    """A command failed or a process exited or never became healthy; the message says which."""


@dataclass
class _Process:
    spec: ProcessSpec
    popen: subprocess.Popen[bytes]
    started: float
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=TAIL_LINES))
    pump: threading.Thread | None = None
    expected_exit: bool = False


def default_bin_dir(repo_root: Path, env: Mapping[str, str]) -> Path:
    """Where the `zhtj-*` console scripts are: LEAGUE_BIN_DIR, `<repo>/.venv/bin`, or ours."""
    if env.get("LEAGUE_BIN_DIR"):
        return Path(env["LEAGUE_BIN_DIR"]).resolve()
    venv_bin = repo_root / ".venv" / "bin"
    return venv_bin if venv_bin.is_dir() else Path(sys.executable).parent


def _healthy(url: str) -> bool:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=1.0) as response:
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError, ValueError):
        return False


def _signal_group(popen: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    """Each process leads its own group: signal the group, so anything it spawned goes too."""
    if popen.poll() is not None:
        return
    try:
        os.killpg(popen.pid, sig)
    except ProcessLookupError:
        pass
    except PermissionError:
        popen.send_signal(sig)


class System:
    """Prepares, starts, watches and stops the whole local system (`up` and end-to-end tests).

    `env` overrides the inherited environment (LEAGUE_DB_PREFIX, LEAGUE_PORT_BASE,
    LEAGUE_AMQP_URL, LEAGUE_SPAN_FILE, LEAGUE_VAR_DIR, ...); the launcher's own variables
    (`process_env`) are computed from the result. `output` receives every process's lines.
    """

    def __init__(
        self,
        repo_root: Path,
        env: Mapping[str, str] | None = None,
        output: Path | str | TextIO | None = None,
        *,
        bin_dir: Path | None = None,
        services: Sequence[Service] = SERVICES,
    ) -> None:
        self.repo_root = Path(repo_root).resolve()
        self.overrides = dict(env or {})
        self._inherited = {**os.environ, **self.overrides}
        self.layout = VarLayout.from_env(self.repo_root, self._inherited)
        self.services = tuple(services)
        self.port_base = port_base(self._inherited)
        self.ports = service_ports(self.port_base, self.services)
        self.specs = {spec.name: spec for spec in process_table(self.port_base, self.services)}
        self.bin_dir = bin_dir or default_bin_dir(self.repo_root, self._inherited)
        self._sink = LogSink(output)
        self._procs: dict[str, _Process] = {}
        self._lock = threading.RLock()
        self._secrets: Secrets | None = None
        atexit.register(self.shutdown)

    # --- addresses ---------------------------------------------------------------------------

    @property
    def gateway_url(self) -> str:
        return url_for(self.ports[GATEWAY.name])

    def service_url(self, svc: str) -> str:
        if svc not in self.ports:
            raise KeyError(f"unknown service {svc!r}; known: {', '.join(self.ports)}")
        return url_for(self.ports[svc])

    @property
    def process_names(self) -> list[str]:
        return list(self.specs)

    # --- environment and output --------------------------------------------------------------

    def say(self, message: str) -> None:
        for line in message.splitlines() or [""]:
            self._sink.write(prefix_line("launcher", line))

    def secrets(self) -> Secrets:
        if self._secrets is None:
            self._secrets = ensure_secrets(self.layout)
            self.layout.documents_dir.mkdir(parents=True, exist_ok=True)
            self.layout.logs_dir.mkdir(parents=True, exist_ok=True)
        return self._secrets

    def env(self, extra_env: Mapping[str, str] | None = None) -> dict[str, str]:
        """The complete environment of a process: inherited + overrides + launcher + extra."""
        computed = process_env(
            self._inherited, self.layout, self.secrets().internal_secret, self.services
        )
        return {**self._inherited, **computed, **(extra_env or {})}

    def _argv(self, svc: str, *args: str) -> list[str]:
        script = self.bin_dir / f"zhtj-{svc}"
        if not script.exists():
            raise StartupError(f"{script} does not exist: run `uv sync --frozen` first")
        return [str(script), *args]

    # --- one-off commands --------------------------------------------------------------------

    def run_command(
        self,
        svc: str,
        *args: str,
        extra_env: Mapping[str, str] | None = None,
        timeout: float | None = COMMAND_TIMEOUT,
        echo: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        """Run `zhtj-<svc> <args>` with the system's environment; output captured (and echoed)."""
        result = subprocess.run(
            self._argv(svc, *args),
            env=self.env(extra_env),
            cwd=self.repo_root,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
            check=False,
        )
        if echo:
            self._echo(f"{svc}-{args[0]}" if args else svc, result)
        return result

    def _echo(self, name: str, result: subprocess.CompletedProcess[str]) -> None:
        for line in (result.stdout + result.stderr).splitlines():
            self._sink.write(prefix_line(name, line))

    def _run_checked(self, svc: str, *args: str) -> subprocess.CompletedProcess[str]:
        result = self.run_command(svc, *args)
        if result.returncode != 0:
            output = (result.stdout + result.stderr).strip().splitlines()[-30:]
            raise StartupError(
                f"`zhtj-{svc} {' '.join(args)}` failed with {describe_exit(result.returncode)}:\n"
                + "\n".join(f"    {line}" for line in output)
            )
        return result

    def prepare(self) -> None:
        """Secrets, then every migration and every topology (in parallel; all before a relay)."""
        self.secrets()
        everything = (*self.services, GATEWAY)
        jobs = [(s.name, "migrate") for s in everything if s.has_db]
        jobs += [(s.name, "topology") for s in everything if s.needs_topology]
        self.say("preparing: " + ", ".join(f"{svc} {what}" for svc, what in jobs))
        started = time.monotonic()
        errors: list[str] = []
        with ThreadPoolExecutor(max_workers=max(1, len(jobs))) as pool:
            futures = [pool.submit(self._run_checked, svc, what) for svc, what in jobs]
            for future in futures:
                try:
                    future.result()
                except StartupError as exc:
                    errors.append(str(exc))
        if errors:
            raise StartupError("\n".join(errors))
        self.say(f"prepared in {time.monotonic() - started:.1f} s")

    # --- processes ---------------------------------------------------------------------------

    def _spec(self, name: str) -> ProcessSpec:
        try:
            return self.specs[name]
        except KeyError:
            raise KeyError(f"unknown process {name!r}; known: {', '.join(self.specs)}") from None

    def start_all(self) -> None:
        busy = [
            f"{spec.name} (port {spec.port})"
            for spec in self.specs.values()
            if spec.port is not None
            and not self.is_running(spec.name)
            and tcp_reachable(LOCALHOST, spec.port, timeout=0.3)
        ]
        if busy:
            raise StartupError(
                "ports already in use by something else: " + ", ".join(busy) + ". Is another "
                "launcher running (`make down`), or choose another LEAGUE_PORT_BASE."
            )
        for name in self.specs:
            if not self.is_running(name):
                self.start(name)

    def start(self, name: str, extra_env: Mapping[str, str] | None = None) -> None:
        """Start (or restart after an exit) one process, optionally with extra variables."""
        spec = self._spec(name)
        with self._lock:
            if self.is_running(name):
                raise StartupError(f"{name} is already running")
            popen = subprocess.Popen(
                self._argv(spec.service, spec.role),
                env=self.env(extra_env),
                cwd=self.repo_root,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                process_group=0,
            )
            proc = _Process(spec, popen, started=time.monotonic())
            proc.pump = threading.Thread(
                target=self._watch, args=(proc,), name=f"launcher-{name}", daemon=True
            )
            self._procs[name] = proc
            proc.pump.start()
        where = f" on {url_for(spec.port)}" if spec.port is not None else ""
        extra = f" with {', '.join(sorted(extra_env))}" if extra_env else ""
        self.say(f"started {name} (pid {popen.pid}){where}{extra}")

    def _watch(self, proc: _Process) -> None:
        assert proc.popen.stdout is not None
        pump_lines(proc.spec.name, proc.popen.stdout, self._sink.write, proc.tail)
        proc.popen.stdout.close()
        code = proc.popen.wait()
        if proc.expected_exit:
            graceful = code in (0, -signal.SIGTERM)
            self.say(
                f"{proc.spec.name} stopped" + ("" if graceful else f" ({describe_exit(code)})")
            )
        else:
            self.say(
                f"!!! {proc.spec.name} EXITED UNEXPECTEDLY ({describe_exit(code)}); "
                "the other processes keep running !!!"
            )

    def _proc(self, name: str) -> _Process | None:
        self._spec(name)
        with self._lock:
            return self._procs.get(name)

    def is_running(self, name: str) -> bool:
        proc = self._proc(name)
        return proc is not None and proc.popen.poll() is None

    def pid(self, name: str) -> int | None:
        """The process id of a running process (benchmarks read its memory from /proc)."""
        proc = self._proc(name)
        return proc.popen.pid if proc is not None and proc.popen.poll() is None else None

    def logs(self, name: str) -> list[str]:
        """The last lines (prefixed) a process wrote."""
        proc = self._proc(name)
        return list(proc.tail) if proc else []

    def _finish(self, proc: _Process) -> None:
        if proc.pump is not None:
            proc.pump.join(timeout=5)

    def stop(self, name: str, timeout: float = STOP_TIMEOUT) -> int | None:
        """SIGTERM, wait up to `timeout`, then SIGKILL; the exit code (None if never started)."""
        proc = self._proc(name)
        if proc is None:
            return None
        proc.expected_exit = True
        _signal_group(proc.popen, signal.SIGTERM)
        try:
            code = proc.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.say(f"{name} did not stop within {timeout:.0f} s: killing it")
            _signal_group(proc.popen, signal.SIGKILL)
            code = proc.popen.wait()
        self._finish(proc)
        return code

    def kill(self, name: str) -> int | None:
        """SIGKILL: a crash, for reliability tests."""
        proc = self._proc(name)
        if proc is None:
            return None
        proc.expected_exit = True
        _signal_group(proc.popen, signal.SIGKILL)
        code = proc.popen.wait()
        self._finish(proc)
        return code

    def wait_exit(self, name: str, timeout: float) -> int:
        """Wait for a process to exit by itself (e.g. fault injection); its exit code."""
        proc = self._proc(name)
        if proc is None:
            raise KeyError(f"{name} was never started")
        try:
            code = proc.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            raise TimeoutError(f"{name} is still running after {timeout:.0f} s") from None
        self._finish(proc)
        return code

    def _failure(self, name: str, what: str) -> str:
        proc = self._proc(name)
        tail = list(proc.tail)[-25:] if proc else []
        shown = "\n".join(f"    {line}" for line in tail) or "    (no output)"
        return f"{name} {what}. Its last lines:\n{shown}"

    def wait_ready(
        self, timeout: float = READY_TIMEOUT, names: Iterable[str] | None = None
    ) -> None:
        """Every API (and the gateway) answers /healthz; relays and consumers are still alive."""
        if names is None:  # every process started and not deliberately stopped
            wanted = [n for n in self.specs if (p := self._proc(n)) and not p.expected_exit]
        else:
            wanted = list(names)
        for name in wanted:
            if self._proc(name) is None:
                raise StartupError(f"{name} was never started")
        pending = {n for n in wanted if self.specs[n].port is not None}
        deadline = time.monotonic() + timeout
        while True:
            for name in wanted:
                proc = self._procs[name]
                code = proc.popen.poll()
                if code is not None:
                    self._finish(proc)
                    raise StartupError(
                        self._failure(name, f"exited ({describe_exit(code)}) before it was ready")
                    )
            for name in sorted(pending):
                port = self.specs[name].port
                assert port is not None
                if _healthy(f"{url_for(port)}/healthz"):
                    pending.discard(name)
                    self.say(f"{name} is healthy")
            settled = all(
                time.monotonic() - self._procs[n].started >= MIN_UPTIME
                for n in wanted
                if self.specs[n].port is None
            )
            if not pending and settled:
                took = time.monotonic() - min(
                    (self._procs[n].started for n in wanted), default=time.monotonic()
                )
                self.say(f"{len(wanted)} processes ready after {took:.1f} s")
                return
            if time.monotonic() > deadline:
                raise StartupError(
                    "\n".join(
                        self._failure(n, f"did not answer /healthz within {timeout:.0f} s")
                        for n in sorted(pending)
                    )
                )
            time.sleep(0.2)

    def bootstrap(self) -> dict[str, Any]:
        """Run `zhtj-identity bootstrap` (idempotent); its parsed result line."""
        result = self.run_command(BOOTSTRAP_SERVICE, "bootstrap", echo=False)
        try:
            parsed = parse_bootstrap_output(result.stdout) if result.returncode == 0 else None
        except ValueError:
            parsed = None
        if parsed is None:
            self._echo(f"{BOOTSTRAP_SERVICE}-bootstrap", result)
            raise StartupError(
                f"`zhtj-{BOOTSTRAP_SERVICE} bootstrap` failed ({describe_exit(result.returncode)}"
                ', or printed no JSON line with "created"); its output is above'
            )
        # Echo everything but the result line: it holds the initial password.
        for line in (result.stdout + result.stderr).splitlines():
            if '"created"' not in line:
                self._sink.write(prefix_line(f"{BOOTSTRAP_SERVICE}-bootstrap", line))
        return parsed

    def shutdown(self, timeout: float = STOP_TIMEOUT) -> None:
        """Stop every process: SIGTERM to all at once, SIGKILL to those left after `timeout`."""
        with self._lock:
            running = [p for p in self._procs.values() if p.popen.poll() is None]
        if not running:
            return
        self.say(f"stopping {len(running)} processes")
        for proc in running:
            proc.expected_exit = True
            _signal_group(proc.popen, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for proc in running:
            try:
                proc.popen.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.say(f"{proc.spec.name} did not stop within {timeout:.0f} s: killing it")
                _signal_group(proc.popen, signal.SIGKILL)
                proc.popen.wait()
        for proc in running:
            self._finish(proc)

    def close(self) -> None:
        self.shutdown()
        self._sink.close()

    def __enter__(self) -> System:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --------------------------------------------------------------------------------------------
# Command line: up, up --detach, down, infra, env
# --------------------------------------------------------------------------------------------


class _Stop(BaseException):
    """A stop signal (Ctrl-C, SIGTERM from `down`, SIGHUP) arrived."""


def _raise_stop(signum: int, _frame: FrameType | None) -> None:
    raise _Stop(signum)


def _still_stopping(_signum: int, _frame: FrameType | None) -> None:
    print("[launcher] already stopping; give it a few seconds", flush=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    with contextlib.suppress(OSError, IndexError):
        # A zombie (exited, not yet reaped) is not running.
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return True


def running_launcher(layout: VarLayout) -> int | None:
    """The pid of the launcher recorded in the pid file, if it still runs."""
    try:
        pid = int(layout.pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    if not _pid_alive(pid):
        return None
    cmdline = Path(f"/proc/{pid}/cmdline")
    with contextlib.suppress(OSError):
        if b"deploy.launcher" not in cmdline.read_bytes():
            return None  # the pid was reused by something else
    return pid


def _remove_pid_file(layout: VarLayout, pid: int) -> None:
    with contextlib.suppress(OSError, ValueError):
        if int(layout.pid_file.read_text().strip()) == pid:
            layout.pid_file.unlink()


def _say(message: str) -> None:
    for line in message.splitlines():
        print(prefix_line("launcher", line), flush=True)


def _up(timeout: float, ready_fd: int | None) -> int:
    env = dict(os.environ)
    layout = VarLayout.from_env(REPO_ROOT, env)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _raise_stop)
    system: System | None = None
    code = 0
    report: dict[str, Any] = {"ok": False, "error": "the launcher stopped before it was ready"}
    try:
        other = running_launcher(layout)
        if other is not None:
            raise StartupError(f"a launcher is already running (pid {other}); `make down` first")
        layout.root.mkdir(parents=True, exist_ok=True)
        layout.pid_file.write_text(f"{os.getpid()}\n")
        ensure_infra(env, _say)
        system = System(REPO_ROOT, output=sys.stdout)
        system.prepare()
        system.start_all()
        system.wait_ready(timeout)
        result = system.bootstrap()
        detached_log = layout.launcher_log if ready_fd is not None else None
        message = ready_message(system.gateway_url, result, detached_log=detached_log)
        print(message, flush=True)
        report = {"ok": True, "message": message}
        if ready_fd is not None:
            _send_report(ready_fd, report)
            ready_fd = None
        while True:
            time.sleep(3600)
    except (StartupError, InfraError, ValueError) as exc:
        _say(f"cannot start: {exc}")
        report = {"ok": False, "error": str(exc)}
        code = 1
    except _Stop:
        _say("stop requested")
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, _still_stopping)
        if ready_fd is not None:
            _send_report(ready_fd, report)
        if system is not None:
            system.shutdown()
        _remove_pid_file(layout, os.getpid())
        _say("stopped")
    return code


def _send_report(fd: int, report: Mapping[str, Any]) -> None:
    with contextlib.suppress(OSError):
        os.write(fd, json.dumps(report, ensure_ascii=False).encode())
    with contextlib.suppress(OSError):
        os.close(fd)


def _tail(path: Path, lines: int) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    return ""


def _up_detached(timeout: float) -> int:
    layout = VarLayout.from_env(REPO_ROOT, os.environ)
    other = running_launcher(layout)
    if other is not None:
        print(f"a launcher is already running (pid {other}); `make down` first")
        return 1
    layout.logs_dir.mkdir(parents=True, exist_ok=True)
    log_fd = os.open(layout.launcher_log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    read_end, write_end = os.pipe()
    argv = [sys.executable, "-m", "deploy.launcher", "up", "--timeout", str(timeout)]
    child = subprocess.Popen(
        [*argv, "--ready-fd", str(write_end)],
        cwd=REPO_ROOT,
        stdin=subprocess.DEVNULL,
        stdout=log_fd,
        stderr=subprocess.STDOUT,
        pass_fds=(write_end,),
        start_new_session=True,
    )
    os.close(write_end)
    os.close(log_fd)
    print(f"starting in the background (pid {child.pid}); log: {layout.launcher_log}", flush=True)
    chunks: list[bytes] = []
    try:
        while chunk := os.read(read_end, 65536):
            chunks.append(chunk)
    except KeyboardInterrupt:
        print("cancelled: stopping the background launcher")
        os.kill(child.pid, signal.SIGTERM)
        child.wait()
        return 130
    finally:
        os.close(read_end)
    try:
        report = json.loads(b"".join(chunks).decode() or "{}")
    except ValueError:
        report = {}
    if report.get("ok"):
        print(report["message"])
        return 0
    with contextlib.suppress(subprocess.TimeoutExpired):
        child.wait(STOP_TIMEOUT + 5)
    print(f"the background launcher failed: {report.get('error', 'it exited')}", file=sys.stderr)
    print(
        f"last lines of {layout.launcher_log}:\n{_tail(layout.launcher_log, 40)}", file=sys.stderr
    )
    return 1


def _down() -> int:
    layout = VarLayout.from_env(REPO_ROOT, os.environ)
    pid = running_launcher(layout)
    if pid is None:
        print("nothing running")
        layout.pid_file.unlink(missing_ok=True)
        return 0
    print(f"stopping the launcher (pid {pid}) and its processes")
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT * 3
    while _pid_alive(pid):
        if time.monotonic() > deadline:
            print(f"the launcher (pid {pid}) is still running; see {layout.launcher_log}")
            return 1
        time.sleep(0.2)
    _remove_pid_file(layout, pid)
    print("stopped")
    return 0


def _infra() -> int:
    try:
        ensure_infra(os.environ, _say)
    except InfraError as exc:
        print(f"[launcher] {exc}", file=sys.stderr)
        return 1
    return 0


def _env() -> int:
    layout = VarLayout.from_env(REPO_ROOT, os.environ)
    secret = ensure_secrets(layout).internal_secret
    for key, value in sorted(process_env(os.environ, layout, secret).items()):
        print(f"export {key}={shlex.quote(value)}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(encoding="utf-8", errors="replace", line_buffering=True)
    parser = argparse.ArgumentParser(
        prog="python -m deploy.launcher", description="智慧团建 local launcher"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start everything (foreground unless --detach)")
    up.add_argument("--detach", action="store_true", help="run in the background")
    up.add_argument("--timeout", type=float, default=READY_TIMEOUT, help="seconds to get healthy")
    up.add_argument("--ready-fd", type=int, default=None, help=argparse.SUPPRESS)
    sub.add_parser("down", help="stop a launcher running in the background")
    sub.add_parser("infra", help="make PostgreSQL and RabbitMQ reachable (start or install)")
    sub.add_parser("env", help="print the services' environment as shell `export` lines")
    args = parser.parse_args(argv)
    if args.command == "up":
        return _up_detached(args.timeout) if args.detach else _up(args.timeout, args.ready_fd)
    if args.command == "down":
        return _down()
    if args.command == "infra":
        return _infra()
    return _env()


if __name__ == "__main__":
    sys.exit(main())
