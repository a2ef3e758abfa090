"""The command line: `up` (foreground or detached), `down`, `infra`, `env`; the pid file."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from deploy.launcher.bootstrap import ready_message
from deploy.launcher.infra import InfraError, ensure_infra
from deploy.launcher.output import prefix_line
from deploy.launcher.secrets import VarLayout, ensure_secrets
from deploy.launcher.system import READY_TIMEOUT, STOP_TIMEOUT, StartupError, System, stop_orphans
from deploy.launcher.table import process_env

REPO_ROOT = Path(__file__).resolve().parents[2]


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
        system = System(REPO_ROOT, output=sys.stdout, supervise=True)
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
        stopped = stop_orphans(layout)
        print(
            f"stopped {stopped} process(es) left behind by a launcher that died"
            if stopped
            else "nothing running"
        )
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
