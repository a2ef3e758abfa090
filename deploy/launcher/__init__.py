"""Local launcher: infrastructure, secrets, migrations, topology, every process, bootstrap.

    .venv/bin/python -m deploy.launcher up            # foreground; Ctrl-C stops everything
    .venv/bin/python -m deploy.launcher up --detach   # background; log in .run/logs/launcher.log
    .venv/bin/python -m deploy.launcher down          # stop a background (or other) launcher
    python3 -m deploy.launcher infra                  # only make PostgreSQL and RabbitMQ reachable
    eval "$(.venv/bin/python -m deploy.launcher env)" # the environment the launcher gives services

Standard library only, so that `infra` and `down` also run with the system python before the
virtual environment exists; `cryptography` (from the venv) is imported only where the JWT key
pair is generated. End-to-end tests drive the same implementation through `System`.

    table.py      the services, their ports and processes, the environment they get
    secrets.py    the var dir, the internal secret, the JWT key pair
    output.py     prefixed output lines, the log sink
    bootstrap.py  the bootstrap result line, the messages shown once up
    infra.py      PostgreSQL and RabbitMQ (start, install), virtual hosts for tests
    system.py     `System`: prepare, start, watch, stop every process
    cli.py        `up`, `up --detach`, `down`, `infra`, `env`; the pid file
"""

from deploy.launcher.bootstrap import bootstrap_message, parse_bootstrap_output, ready_message
from deploy.launcher.cli import REPO_ROOT, main, running_launcher
from deploy.launcher.infra import (
    DEFAULT_AMQP_URL,
    DEFAULT_DATABASE_SERVER_URL,
    TRUST_MARKER,
    TRUST_RULES,
    InfraError,
    Say,
    add_trust_rules,
    amqp_endpoint,
    amqp_url_with_vhost,
    create_vhost,
    delete_vhost,
    ensure_infra,
    install_instructions,
    parse_endpoint,
    postgres_clusters,
    tcp_reachable,
)
from deploy.launcher.output import LogSink, describe_exit, prefix_line, pump_lines
from deploy.launcher.secrets import SECRET_VAR, Secrets, VarLayout, ensure_secrets, read_env_file
from deploy.launcher.system import (
    COMMAND_TIMEOUT,
    MIN_UPTIME,
    READY_TIMEOUT,
    STOP_TIMEOUT,
    TAIL_LINES,
    StartupError,
    System,
    default_bin_dir,
)
from deploy.launcher.table import (
    BOOTSTRAP_SERVICE,
    DEFAULT_PORT_BASE,
    GATEWAY,
    LOCALHOST,
    SERVICE_CALLS,
    SERVICES,
    ProcessSpec,
    Role,
    Service,
    port_base,
    process_env,
    process_table,
    service_ports,
    url_for,
)

__all__ = [
    "BOOTSTRAP_SERVICE",
    "COMMAND_TIMEOUT",
    "DEFAULT_AMQP_URL",
    "DEFAULT_DATABASE_SERVER_URL",
    "DEFAULT_PORT_BASE",
    "GATEWAY",
    "LOCALHOST",
    "MIN_UPTIME",
    "READY_TIMEOUT",
    "REPO_ROOT",
    "SECRET_VAR",
    "SERVICES",
    "SERVICE_CALLS",
    "STOP_TIMEOUT",
    "TAIL_LINES",
    "TRUST_MARKER",
    "TRUST_RULES",
    "InfraError",
    "LogSink",
    "ProcessSpec",
    "Role",
    "Say",
    "Secrets",
    "Service",
    "StartupError",
    "System",
    "VarLayout",
    "add_trust_rules",
    "amqp_endpoint",
    "amqp_url_with_vhost",
    "bootstrap_message",
    "create_vhost",
    "default_bin_dir",
    "delete_vhost",
    "describe_exit",
    "ensure_infra",
    "ensure_secrets",
    "install_instructions",
    "main",
    "parse_bootstrap_output",
    "parse_endpoint",
    "port_base",
    "postgres_clusters",
    "prefix_line",
    "process_env",
    "process_table",
    "pump_lines",
    "read_env_file",
    "ready_message",
    "running_launcher",
    "service_ports",
    "tcp_reachable",
    "url_for",
]
