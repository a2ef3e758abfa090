"""Output: each process's lines prefixed with its name, the log sink, exit codes in words."""

from __future__ import annotations

import signal
import sys
import threading
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import IO, TextIO


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


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"
