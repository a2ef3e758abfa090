"""`System` driving stand-in `zhtj-*` scripts: start, health, prefixed output, stop, kill, restart.

No database or broker: the scripts only imitate the process contract (an API answering /healthz
on `<SVC>_PORT`, long-running relays and consumers, one-off commands).
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from deploy.launcher import GATEWAY, SERVICES, StartupError, System

STUB = """\
#!{python}
import json, os, signal, sys, time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

svc = Path(sys.argv[0]).name.removeprefix("zhtj-")
role = sys.argv[1]
if os.environ.get("STUB_FAIL") == role:
    print(f"{{svc}} {{role}}: cannot start (STUB_FAIL)", flush=True)
    sys.exit(3)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
if role == "api":
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200 if self.path == "/healthz" else 404)
            self.end_headers()
            self.wfile.write(b'{{"status": "ok"}}')
        def log_message(self, *args):
            pass
    server = HTTPServer(("127.0.0.1", int(os.environ[svc.upper() + "_PORT"])), Handler)
    print(json.dumps({{"event": "api_started", "secret_set": bool(os.environ["LEAGUE_INTERNAL_SECRET"])}}), flush=True)
    server.serve_forever()
elif role in ("events", "relay", "consume", "worker"):
    print(f"{{role}} running", flush=True)
    exit_after = os.environ.get("STUB_EXIT_AFTER")
    time.sleep(float(exit_after) if exit_after else 3600)
    sys.exit(7)
elif role == "bootstrap":
    marker = Path(os.environ["LEAGUE_VAR_DIR"]) / "bootstrapped"
    print(json.dumps({{"event": "bootstrap_started"}}))
    created = not marker.exists()
    marker.touch()
    print(json.dumps({{"created": created, "username": "admin", "initial_password": "pw-1" if created else None}}))
else:
    print(json.dumps({{"service": svc, "command": role}}))
"""


def _free_port_base() -> int:
    for _ in range(50):
        base = random.randrange(20_000, 50_000, 1000)
        ports = [base + GATEWAY.port_offset, *(base + s.port_offset for s in SERVICES)]
        try:
            for port in ports:
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise RuntimeError("no free port range")


def stub_bin(tmp_path: Path) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = STUB.format(python=sys.executable)
    for name in [GATEWAY.name, *(s.name for s in SERVICES)]:
        path = bin_dir / f"zhtj-{name}"
        path.write_text(script)
        path.chmod(0o755)
    return bin_dir


def stub_env(tmp_path: Path) -> dict[str, str]:
    return {"LEAGUE_PORT_BASE": str(_free_port_base()), "LEAGUE_VAR_DIR": str(tmp_path / "var")}


@pytest.fixture
def system(tmp_path: Path) -> Iterator[System]:
    with System(
        tmp_path, stub_env(tmp_path), tmp_path / "system.log", bin_dir=stub_bin(tmp_path)
    ) as sys_:
        yield sys_


@pytest.fixture
def supervised(tmp_path: Path) -> Iterator[System]:
    """As `make up` runs it: crashed processes come back (with short back-offs, for the test)."""
    with System(
        tmp_path,
        stub_env(tmp_path),
        tmp_path / "system.log",
        bin_dir=stub_bin(tmp_path),
        supervise=True,
        restart_delays=(0.1, 0.2),
        max_restarts=3,
    ) as sys_:
        yield sys_


def test_the_whole_life_cycle(system: System, tmp_path: Path) -> None:
    system.prepare()
    system.start_all()
    system.wait_ready(timeout=20)
    assert all(system.is_running(name) for name in system.process_names)

    first = system.bootstrap()
    assert first["created"] is True
    assert first["initial_password"] == "pw-1"
    assert system.bootstrap()["created"] is False

    result = system.run_command("org", "dlq", "list", "org.x")
    assert result.returncode == 0
    assert json.loads(result.stdout) == {"service": "org", "command": "dlq"}

    assert system.stop("org-api") == 0
    assert not system.is_running("org-api")
    system.start("org-api")
    system.wait_ready(timeout=20, names=["org-api"])

    assert system.kill("org-events") == -9
    system.start("org-events", extra_env={"STUB_EXIT_AFTER": "0.1"})
    assert system.wait_exit("org-events", timeout=10) == 7

    system.shutdown()
    assert not any(system.is_running(name) for name in system.process_names)

    log = (tmp_path / "system.log").read_text(encoding="utf-8")
    assert "[identity-migrate] " in log
    assert "[org-topology] " in log
    assert '[org-api] {"event": "api_started", "secret_set": true}' in log
    assert "[identity-events] events running" in log
    assert "org-events EXITED UNEXPECTEDLY (exit code 7)" in log
    assert "pw-1" not in log  # the initial password is for the operator, not the log


def test_a_process_that_dies_at_start_is_named_with_its_output(system: System) -> None:
    system.prepare()
    system.start_all()
    system.stop("identity-api")
    system.start("identity-api", extra_env={"STUB_FAIL": "api"})
    with pytest.raises(StartupError) as caught:
        system.wait_ready(timeout=20)
    assert "identity-api exited (exit code 3) before it was ready" in str(caught.value)
    assert "[identity-api] identity api: cannot start (STUB_FAIL)" in str(caught.value)


def test_a_failing_command_fails_prepare(system: System, tmp_path: Path) -> None:
    script = system.bin_dir / "zhtj-org"
    script.write_text(f"#!{sys.executable}\nimport sys\nprint('no database')\nsys.exit(2)\n")
    with pytest.raises(StartupError, match=r"zhtj-org migrate` failed with exit code 2"):
        system.prepare()


def test_busy_ports_are_reported_before_anything_starts(system: System) -> None:
    port = system.ports["org"]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
        sock.listen()
        with pytest.raises(StartupError, match=rf"org-api \(port {port}\)"):
            system.start_all()
    assert not any(system.is_running(name) for name in system.process_names)


def _eventually(check: Callable[[], object], within: float = 20.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "not within the time"
        time.sleep(0.05)


def test_a_crashed_process_comes_back_and_is_counted(supervised: System, tmp_path: Path) -> None:
    supervised.prepare()
    supervised.start_all()
    supervised.wait_ready(timeout=20)
    for name in ("members-events", "gateway"):
        before = supervised.pid(name)
        assert before is not None
        os.kill(before, signal.SIGKILL)  # a crash, not the launcher's own stop
        _eventually(lambda: supervised.pid(name) not in (None, before))  # noqa: B023 (awaited here)
    supervised.wait_ready(timeout=20)
    assert supervised.restarts == {"members-events": 1, "gateway": 1}
    # Stopped on purpose, a process stays stopped.
    supervised.stop("org-api")
    time.sleep(0.5)
    assert not supervised.is_running("org-api")
    supervised.shutdown()
    log = (tmp_path / "system.log").read_text(encoding="utf-8")
    assert "members-events exited unexpectedly (killed by SIGKILL); restarting it in 0.1 s" in log
    assert "restarted gateway (its restart 1; 2 in all)" in log
    assert "restarts: 2 (gateway 1, members-events 1)" in log


def test_a_process_that_keeps_crashing_is_given_up_after_the_limit(
    supervised: System, tmp_path: Path
) -> None:
    supervised.prepare()
    supervised.start("org-events", extra_env={"STUB_EXIT_AFTER": "0.05"})
    _eventually(lambda: "not restarting it" in (tmp_path / "system.log").read_text("utf-8"))
    assert supervised.restarts == {"org-events": 3}
    assert not supervised.is_running("org-events")
    log = (tmp_path / "system.log").read_text(encoding="utf-8")
    assert "org-events EXITED UNEXPECTEDLY (exit code 7) 4 times in a row" in log
