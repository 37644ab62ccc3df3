"""Services the fault tests own and break: a PostgreSQL cluster and a Redis server that they
stop and start, and the deployment's processes (uvicorn serving the ASGI application, a Celery
worker) running on them. The shared PostgreSQL and Redis are never touched."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import redis

from bench.deployment import free_port
from tests.browser.servers import stop

REPO_ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def wait_until(condition: Callable[[], T], what: str, timeout: float = 60.0) -> T:
    """Poll `condition` until it returns something true, and return that; fail after
    `timeout` seconds saying what did not happen. The pause only paces the polling."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g}s")
        time.sleep(0.05)


def tail(path: Path, lines: int = 40) -> str:
    """The end of a process's log, for failure messages."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _postgres_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb is None:
        raise RuntimeError("PostgreSQL's server binaries (initdb, pg_ctl) are not installed")
    return Path(initdb).parent


class Postgres:
    """A throwaway PostgreSQL cluster on a free port, run as the postgres user when root."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="segscope-faults-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.bin = _postgres_bin()
        self._user = "postgres" if os.geteuid() == 0 else None
        if self._user:
            shutil.chown(self.root, self._user)
        self._pg("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                 "--locale=C", "--no-sync")

    def _pg(self, tool: str, *args: str) -> None:
        subprocess.run([str(self.bin / tool), *args], check=True, user=self._user,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=self.root)

    def start(self) -> None:
        options = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
                   "-c fsync=off -c full_page_writes=off")
        self._pg("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.root / "log"),
                 "-w", "-t", "60", "start")

    def stop(self) -> None:
        """Stop the cluster, disconnecting every client (pg_ctl's fast mode)."""
        self._pg("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop")

    def restart(self) -> None:
        self.stop()
        self.start()

    def remove(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._pg("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    def conninfo(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str, template: str = "template1") -> Database:
        with psycopg.connect(self.conninfo("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return Database(self, name)


@dataclass(frozen=True)
class Database:
    """One database of a test's cluster, and the rows it holds."""

    cluster: Postgres
    name: str

    def conninfo(self) -> str:
        return self.cluster.conninfo(self.name)

    def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """The rows a query returns, on a connection of its own."""
        with psycopg.connect(self.conninfo(), autocommit=True) as conn:
            return conn.execute(sql, params).fetchall()

    def value(self, sql: str, *params: Any) -> Any:
        return self.rows(sql, *params)[0][0]


class Redis:
    """A redis-server of the test's own on a free port, without persistence."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.root),
             "--logfile", str(self.root / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=self.port, socket_connect_timeout=1)
        wait_until(lambda: self._answers(client), "redis-server answering PING", 30)

    @staticmethod
    def _answers(client: redis.Redis) -> bool:
        try:
            return bool(client.ping())
        except redis.ConnectionError:
            return False

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)
            self.process = None

    def idle(self) -> bool:
        """Whether Celery's queues are empty and no task is taken but unacknowledged."""
        client = redis.Redis(port=self.port)
        return (client.llen("celery") == 0 and client.llen("background") == 0
                and client.hlen("unacked") == 0)


class Deployment:
    """Segscope's processes on the test's own PostgreSQL and Redis: `manage.py` commands, the
    ASGI server and Celery workers, each logging to a file under `root`."""

    def __init__(self, root: Path, database: Database, redis_url: str) -> None:
        self.root = root
        self.env = dict(os.environ, DATABASE_URL=database.conninfo(), REDIS_URL=redis_url,
                        DEBUG="true")
        self.processes: list[subprocess.Popen[bytes]] = []

    def manage(self, *args: str) -> str:
        """Run `manage.py ARGS` and return its standard output."""
        done = subprocess.run([sys.executable, "manage.py", *args], cwd=REPO_ROOT, env=self.env,
                              capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"manage.py {' '.join(args)}: {done.stderr[-2000:]}")
        return done.stdout

    def agent_token(self, host: str) -> str:
        """A new agent token for `host` (created if missing)."""
        return self.manage("create_agent_token", host).strip()

    def _spawn(self, name: str, argv: list[str],
               **env: str) -> tuple[subprocess.Popen[bytes], Path]:
        log = self.root / f"{name}.log"
        with open(log, "ab") as out:
            process = subprocess.Popen(argv, cwd=REPO_ROOT, env={**self.env, **env}, stdout=out,
                                       stderr=subprocess.STDOUT)
        self.processes.append(process)
        return process, log

    def start_server(self) -> str:
        """uvicorn serving webapp.asgi; its URL once /healthz answers."""
        port = free_port()
        process, log = self._spawn("uvicorn", [
            sys.executable, "-m", "uvicorn", "webapp.asgi:application", "--host", "127.0.0.1",
            "--port", str(port), "--lifespan", "off", "--log-level", "warning"])
        url = f"http://127.0.0.1:{port}"

        def healthy() -> bool:
            if process.poll() is not None:
                raise RuntimeError(f"uvicorn exited:\n{tail(log)}")
            try:
                with urllib.request.urlopen(f"{url}/healthz", timeout=10) as response:
                    return bool(response.status == 200)
            except OSError:  # refused while it starts, or its first answer was slow
                return False

        wait_until(healthy, "uvicorn answering /healthz")
        return url

    def start_worker(self, **env: str) -> subprocess.Popen[bytes]:
        """`celery -A webapp worker` with one prefork child process, as deployed; `env` adds
        to its environment."""
        process, _ = self._spawn("worker", [
            sys.executable, "-m", "celery", "-A", "webapp", "worker", "--pool=prefork",
            "--concurrency=1", "--loglevel=INFO", "--without-gossip", "--without-mingle",
            "--without-heartbeat"], **env)
        return process

    def log(self, name: str) -> str:
        return tail(self.root / f"{name}.log")

    def stop(self) -> None:
        for process in reversed(self.processes):
            stop(process)
        self.processes.clear()


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid`."""
    found = []
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            text = Path(stat).read_text()
        except OSError:
            continue  # exited meanwhile
        # The command name, in parentheses, may hold spaces: the fields after it are fixed.
        if int(text.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(Path(stat).parent.name))
    return found


class Relay:
    """A TCP relay between an agent and the server that the test can cut: while cut, it
    takes connections and never answers, as a link that drops every packet would, so that
    the agent's requests time out; restored, it relays again."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._cut = threading.Event()
        self._held: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cut(self) -> None:
        self._cut.set()

    def restore(self) -> None:
        self._cut.clear()
        for held in self._held:
            held.close()
        self._held.clear()

    def close(self) -> None:
        self._listener.close()
        self.restore()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            if self._cut.is_set():
                self._held.append(client)
                continue
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pump, args=(source, sink), daemon=True).start()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for end in (source, sink):
            try:
                end.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
