"""The deployment's process groups as docker-compose.yml runs them (bin/web, bin/worker,
bin/beat), started on a chosen database and Redis, and the CPU time each group uses.

The command lines live in bin/: compose, the tests and the load benchmark all start those
scripts, so that what is measured and tested is what is deployed."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
BIN = REPO_ROOT / "bin"
ROLES = ("web", "worker", "beat")
STARTUP = 90.0
_TICKS = os.sysconf("SC_CLK_TCK")


def command(role: str, *extra: str) -> list[str]:
    """The argv that starts a process group: bin/<role> and extra arguments (which win)."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r} (one of {', '.join(ROLES)})")
    return [str(BIN / role), *extra]


def environment(base: Mapping[str, str] | None = None, **overrides: str) -> dict[str, str]:
    """The environment of a started process: this interpreter as PYTHON (the virtualenv's)."""
    env = dict(os.environ if base is None else base)
    env["PYTHON"] = sys.executable
    env.update(overrides)
    return env


def free_port() -> int:
    """A TCP port nothing listens on now, on loopback."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class ProcessGroup:
    """A started role: its top process (whose descendants belong to the group)."""

    role: str
    process: subprocess.Popen[bytes]
    url: str = ""
    log: Path | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    def pids(self) -> list[int]:
        """The top process and every descendant alive now."""
        return [self.pid, *descendants(self.pid)]

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM (a warm shutdown for Celery), then SIGKILL after `timeout`."""
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            for pid in reversed(self.pids()):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self.process.wait()


def start(role: str, env: Mapping[str, str], *extra: str, log: Path | None = None,
          port: int | None = None) -> ProcessGroup:
    """Start bin/<role>; for web, on loopback at `port` (default: a free one), once /healthz
    answers."""
    args = list(extra)
    url = ""
    if role == "web":
        port = port or free_port()
        args = ["--host", "127.0.0.1", "--port", str(port), *args]
        url = f"http://127.0.0.1:{port}"
    out = open(log, "ab") if log is not None else subprocess.DEVNULL  # noqa: SIM115
    try:
        process = subprocess.Popen(command(role, *args), cwd=REPO_ROOT, env=dict(env),
                                   stdout=out, stderr=subprocess.STDOUT)
    finally:
        if log is not None:
            out.close()  # type: ignore[union-attr]
    group = ProcessGroup(role, process, url, log)
    if role == "web":
        wait_healthy(group)
    return group


def wait_healthy(group: ProcessGroup, timeout: float = STARTUP) -> None:
    """Return once the web group answers 200 on /healthz; raise if it exits or never does."""
    deadline = time.monotonic() + timeout
    while True:
        if group.process.poll() is not None:
            raise RuntimeError(f"{group.role} exited with {group.process.returncode}"
                               + (f"; see {group.log}" if group.log else ""))
        try:
            with urllib.request.urlopen(f"{group.url}/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if time.monotonic() > deadline:
            group.stop()
            raise RuntimeError(f"{group.role} did not answer /healthz in {timeout:.0f}s")
        time.sleep(0.2)  # paces the readiness probe only


# -- CPU time from /proc -------------------------------------------------------------------------

def _stat(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            text = handle.read().decode("ascii", "replace")
    except OSError:
        return None
    # The command name is in parentheses and may hold spaces: split after the last ")".
    head, _, rest = text.rpartition(")")
    return [head.partition("(")[2], *rest.split()]


def _all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def descendants(pid: int) -> list[int]:
    """Every process below `pid`, found by parent ids."""
    children: dict[int, list[int]] = {}
    for other in _all_pids():
        fields = _stat(other)
        if fields is not None:
            children.setdefault(int(fields[2]), []).append(other)
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def cpu_seconds(pids: Iterable[int]) -> float:
    """User + system CPU seconds the processes used so far (those still alive)."""
    total = 0
    for pid in pids:
        fields = _stat(pid)
        if fields is not None:
            total += int(fields[12]) + int(fields[13])  # utime, stime
    return total / _TICKS


def pids_named(name: str) -> list[int]:
    """Processes whose command name starts with `name` (e.g. the shared postgres and redis)."""
    return [pid for pid in _all_pids()
            if (fields := _stat(pid)) is not None and fields[0].startswith(name)]


@dataclass
class CpuMeter:
    """CPU use per group between `start` and `stop`, in cores (CPU seconds / wall seconds).
    Groups are sets of processes found again at each reading, so that children started
    meanwhile (uvicorn and Celery respawn them) count; a process that ended between two
    readings loses its last interval."""

    groups: Mapping[str, object]  # name -> ProcessGroup, or a callable returning pids
    _last: dict[str, dict[int, float]] = field(default_factory=dict)
    _used: dict[str, float] = field(default_factory=dict)
    _started: float = 0.0
    _elapsed: float = 0.0

    def _pids(self, name: str) -> list[int]:
        group = self.groups[name]
        if isinstance(group, ProcessGroup):
            return group.pids()
        return list(group())  # type: ignore[operator]

    def sample(self) -> None:
        """Add the CPU time used since the last sample, per process."""
        for name in self.groups:
            last = self._last.setdefault(name, {})
            now = {pid: cpu_seconds([pid]) for pid in self._pids(name)}
            self._used[name] = self._used.get(name, 0.0) + sum(
                max(0.0, used - last.get(pid, used if not self._started else 0.0))
                for pid, used in now.items())
            self._last[name] = now

    def start(self) -> None:
        self._used.clear()
        self._last.clear()
        self._started = 0.0
        self.sample()
        self._started = time.monotonic()

    def stop(self) -> dict[str, float]:
        """Cores used per group since `start`."""
        self.sample()
        self._elapsed = time.monotonic() - self._started
        return {name: round(used / self._elapsed, 3) for name, used in self._used.items()}
