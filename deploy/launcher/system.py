"""The system: prepares, starts, watches and stops every process of every service."""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from deploy.launcher.bootstrap import parse_bootstrap_output
from deploy.launcher.infra import tcp_reachable
from deploy.launcher.output import LogSink, describe_exit, prefix_line, pump_lines
from deploy.launcher.secrets import Secrets, VarLayout, ensure_secrets
from deploy.launcher.table import (
    BOOTSTRAP_SERVICE,
    GATEWAY,
    LOCALHOST,
    SERVICES,
    ProcessSpec,
    Service,
    port_base,
    process_env,
    process_table,
    service_ports,
    url_for,
)

STOP_TIMEOUT = 10.0  # SIGTERM, then SIGKILL after this many seconds
READY_TIMEOUT = 90.0  # every API answers /healthz within this
COMMAND_TIMEOUT = 300.0  # migrate, topology, bootstrap
MIN_UPTIME = 1.0  # a relay or consumer counts as started once it survived this long
TAIL_LINES = 200  # kept per process for error reports
# A supervised process that exits unexpectedly is started again after 1, 2, 4, ... s (at most
# 30 s), as Kubernetes' restart policy does; one that had run this long starts the back-off
# over, and after this many restarts in a row the launcher gives up on it and says so.
RESTART_DELAYS = (1.0, 2.0, 4.0, 8.0, 16.0, 30.0)
STABLE_UPTIME = 60.0
MAX_RESTARTS = 6


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
    extra_env: Mapping[str, str] | None = None
    crashes: int = 0  # unexpected exits in a row, for the back-off


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
    With `supervise`, a process that exits unexpectedly is started again with back-off
    (`restarts` counts them); without, it is reported and left stopped (tests that crash a
    process on purpose and start it themselves).
    """

    def __init__(
        self,
        repo_root: Path,
        env: Mapping[str, str] | None = None,
        output: Path | str | TextIO | None = None,
        *,
        bin_dir: Path | None = None,
        services: Sequence[Service] = SERVICES,
        supervise: bool = False,
        restart_delays: Sequence[float] = RESTART_DELAYS,
        max_restarts: int = MAX_RESTARTS,
    ) -> None:
        self.repo_root = Path(repo_root).resolve()
        self.overrides = dict(env or {})
        self._inherited = {**os.environ, **self.overrides}
        self.layout = VarLayout.from_env(self.repo_root, self._inherited)
        self.services = tuple(services)
        self.port_base = port_base(self._inherited)
        self.ports = service_ports(self.port_base, self.services)
        self.specs = {
            spec.name: spec
            for spec in process_table(self.port_base, self.services, self._inherited)
        }
        self.bin_dir = bin_dir or default_bin_dir(self.repo_root, self._inherited)
        self._sink = LogSink(output)
        self._procs: dict[str, _Process] = {}
        self._lock = threading.RLock()
        self._secrets: Secrets | None = None
        self.supervise = supervise
        self.restart_delays = tuple(restart_delays)
        self.max_restarts = max_restarts
        self.restarts: dict[str, int] = {}
        self._closing = threading.Event()
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
        stopped = stop_orphans(self.layout)
        if stopped:
            self.say(f"stopped {stopped} process(es) left behind by a launcher that died")
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

    def start(
        self, name: str, extra_env: Mapping[str, str] | None = None, *, crashes: int = 0
    ) -> None:
        """Start (or restart after an exit) one process, optionally with extra variables."""
        spec = self._spec(name)
        with self._lock:
            if self.is_running(name):
                raise StartupError(f"{name} is already running")
            if self._closing.is_set():
                raise StartupError(f"not starting {name}: the launcher is stopping")
            popen = subprocess.Popen(
                self._argv(spec.service, spec.role),
                env=self.env(extra_env),
                cwd=self.repo_root,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                process_group=0,
            )
            proc = _Process(
                spec, popen, started=time.monotonic(), extra_env=extra_env, crashes=crashes
            )
            self.layout.children_dir.mkdir(parents=True, exist_ok=True)
            (self.layout.children_dir / str(popen.pid)).write_text(name)
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
        (self.layout.children_dir / str(proc.popen.pid)).unlink(missing_ok=True)
        if proc.expected_exit:
            graceful = code in (0, -signal.SIGTERM)
            self.say(
                f"{proc.spec.name} stopped" + ("" if graceful else f" ({describe_exit(code)})")
            )
        elif not self.supervise or self._closing.is_set():
            self.say(
                f"!!! {proc.spec.name} EXITED UNEXPECTEDLY ({describe_exit(code)}); "
                "the other processes keep running !!!"
            )
        else:
            self._restart(proc, code)

    def _restart(self, proc: _Process, code: int) -> None:
        """Start a crashed process again after its back-off, as a supervisor would."""
        name = proc.spec.name
        stable = time.monotonic() - proc.started >= STABLE_UPTIME
        crashes = 1 if stable else proc.crashes + 1
        if crashes > self.max_restarts:
            self.say(
                f"!!! {name} EXITED UNEXPECTEDLY ({describe_exit(code)}) {crashes} times in a "
                "row: not restarting it; see its lines above !!!"
            )
            return
        delay = self.restart_delays[min(crashes, len(self.restart_delays)) - 1]
        self.say(
            f"!!! {name} exited unexpectedly ({describe_exit(code)}); restarting it in "
            f"{delay:g} s !!!"
        )
        if self._closing.wait(delay):
            return
        try:
            self.start(name, proc.extra_env, crashes=crashes)
        except StartupError as exc:
            self.say(f"cannot restart {name}: {exc}")
            return
        with self._lock:
            self.restarts[name] = self.restarts.get(name, 0) + 1
            count, total = self.restarts[name], sum(self.restarts.values())
        self.say(f"restarted {name} (its restart {count}; {total} in all)")

    def restart_summary(self) -> str:
        """`restarts: 3 (members-relay 2, gateway 1)`, for the launcher's output."""
        with self._lock:
            counted = sorted(self.restarts.items())
        listed = ", ".join(f"{name} {n}" for name, n in counted)
        return f"restarts: {sum(n for _, n in counted)}" + (f" ({listed})" if listed else "")

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
            self._closing.set()  # no restart from here on
            running = [p for p in self._procs.values() if p.popen.poll() is None]
        if not running:
            return
        self.say(
            f"stopping {len(running)} processes"
            + (f"; {self.restart_summary()}" if self.restarts else "")
        )
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


def stop_orphans(layout: VarLayout, timeout: float = STOP_TIMEOUT) -> int:
    """Stop the children a dead launcher left running (their groups are on file); how many."""
    directory = layout.children_dir
    if not directory.is_dir():
        return 0
    groups = []
    for entry in directory.iterdir():
        entry.unlink(missing_ok=True)
        if not entry.name.isdigit():
            continue
        pgid = int(entry.name)
        cmdline = Path(f"/proc/{pgid}/cmdline")
        # A number on file may since belong to someone else's process: only ours are stopped.
        if cmdline.exists() and b"zhtj-" in cmdline.read_bytes():
            groups.append(pgid)
    for pgid in groups:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for pgid in groups:
        while Path(f"/proc/{pgid}").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
    return len(groups)
