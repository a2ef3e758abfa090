"""The process table: every service, its port and processes, and the environment they get."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from deploy.launcher.secrets import SECRET_VAR, VarLayout

# `events` runs a service's relay and consumers in one process (the launcher's default);
# `relay` and `consume` apart stay possible for a deployment that scales them alone.
# `worker` takes commands from a work queue (fees' month start); it runs in any number.
Role = Literal["api", "events", "relay", "consume", "worker"]


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
        return self.declares_queues or bool(
            {"events", "relay", "consume", "worker"} & set(self.processes)
        )


# THE process table: a new process or service is one entry here.
SERVICES: tuple[Service, ...] = (
    Service("identity", port_offset=101, has_db=True, processes=("api", "events")),
    Service("org", port_offset=102, has_db=True, processes=("api", "events")),
    Service("members", port_offset=103, has_db=True, processes=("api", "events")),
    Service("fees", port_offset=104, has_db=True, processes=("api", "events", "worker")),
    Service("activities", port_offset=105, has_db=True, processes=("api", "events")),
    Service("transfers", port_offset=106, has_db=True, processes=("api", "events")),
)
GATEWAY = Service("gateway", port_offset=0, has_db=False, processes=("api",))
# Direct HTTP calls between services (caller, callee): the caller gets `<CALLER>_<CALLEE>_URL`.
SERVICE_CALLS: tuple[tuple[str, str], ...] = (
    ("identity", "org"),
    ("members", "org"),
    ("activities", "org"),  # whether a summary's photos are images
    ("activities", "members"),  # a member's phone number when an SMS is sent
    ("fees", "org"),  # whether a fee use's document was uploaded
    # The annual assessment report: each service's figures over a subtree.
    ("org", "identity"),
    ("org", "members"),
    ("org", "fees"),
    ("org", "activities"),
    ("org", "transfers"),
)
# The service whose `bootstrap` command creates the root organisation and the first admin.
BOOTSTRAP_SERVICE = "identity"

DEFAULT_PORT_BASE = 8000
LOCALHOST = "127.0.0.1"


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


def worker_count(env: Mapping[str, str], service: str) -> int:
    """`LEAGUE_<SERVICE>_WORKERS` worker processes (default 1): `make up` with
    LEAGUE_FEES_WORKERS=2 runs two bill generators side by side, as KEDA would."""
    name = f"LEAGUE_{service.upper()}_WORKERS"
    raw = env.get(name, "").strip() or "1"
    if not raw.isdigit() or not 1 <= int(raw) <= 16:
        raise ValueError(f"{name} must be a number from 1 to 16, not {raw!r}")
    return int(raw)


def process_table(
    base: int, services: Sequence[Service] = SERVICES, env: Mapping[str, str] | None = None
) -> list[ProcessSpec]:
    ports = service_ports(base, services)
    specs: list[ProcessSpec] = []
    for s in services:
        for role in s.processes:
            port = ports[s.name] if role == "api" else None
            copies = worker_count(env or {}, s.name) if role == "worker" else 1
            # The first keeps the plain name (`fees-worker`); more are `fees-worker-2`, ...
            specs += [
                ProcessSpec(f"{s.name}-{role}" + (f"-{n}" if n > 1 else ""), s.name, role, port)
                for n in range(1, copies + 1)
            ]
    specs.append(ProcessSpec(GATEWAY.name, GATEWAY.name, "api", ports[GATEWAY.name]))
    return specs


def url_for(port: int) -> str:
    return f"http://{LOCALHOST}:{port}"


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
