"""The production web server: uvicorn with two processes on one port, as the image runs it,
serving the real application on PostgreSQL and Redis."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.db import connection

from bench.deployment import command
from tests.browser.servers import stop
from tests.webapp.flows.kernel_log import KERNEL_LOG
from webapp.flows.models import FlowBatch
from webapp.inventory.models import AgentToken, Host

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.skipif(connection.vendor != "postgresql",
                                 reason="the production server runs on PostgreSQL")]

REPO_ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT = 60.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _database_url() -> str:
    """The URL of the database this test runs on (pytest-django's test database)."""
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def _workers(pid: int) -> list[int]:
    """The worker processes uvicorn started (multiprocessing children running spawn_main)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            command = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue  # exited meanwhile
        if parent == pid and b"spawn_main" in command:
            found.append(int(stat.parent.name))
    return found


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _answers(url: str) -> bool:
    try:
        return _get(url)[0] == 200
    except (urllib.error.URLError, ConnectionError):
        return False  # not listening yet


@contextmanager
def _serving(**extra_env: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """bin/web (uvicorn serving webapp.asgi) with WEB_CONCURRENCY=2, ready to answer."""
    port = _free_port()
    env = dict(os.environ, DATABASE_URL=_database_url(), WEB_CONCURRENCY="2", LOG_LEVEL="WARNING",
               PYTHON=sys.executable, **extra_env)
    server = subprocess.Popen(
        command("web", "--host", "127.0.0.1", "--port", str(port)),
        cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + STARTUP_TIMEOUT
    try:
        while len(_workers(server.pid)) < 2 or not _answers(f"{url}/healthz"):
            assert server.poll() is None, server.stdout.read().decode() if server.stdout else ""
            assert time.monotonic() < deadline, "the web server did not come up"
            time.sleep(0.1)  # paces the polling only
        yield url, server
    finally:
        stop(server, signal.SIGINT)


@pytest.fixture
def web_server() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    with _serving() as serving:
        yield serving


def test_two_web_processes_share_the_port_and_serve_the_application(
        web_server: tuple[str, subprocess.Popen[bytes]]) -> None:
    url, server = web_server

    status, body = _get(f"{url}/healthz")

    assert (status, json.loads(body)) == (200, {"status": "ok", "database": "ok"})
    assert len(_workers(server.pid)) == 2
    assert _get(f"{url}/api/hosts/")[0] in (401, 403)  # the API still requires a login


def test_agents_posting_at_once_are_all_served(
        web_server: tuple[str, subprocess.Popen[bytes]]) -> None:
    url, _ = web_server
    tokens = {}
    for n in range(4):
        host = Host.objects.create(name=f"node-{n:02}")
        tokens[host.name] = AgentToken.issue(host)[1]

    def post(name: str) -> int:
        body = json.dumps({"host": name, "source": "kernel_log", "filename": "/var/log/kern.log",
                           "text": KERNEL_LOG}).encode()
        request = urllib.request.Request(
            f"{url}/api/ingest/flows/", data=body, method="POST",
            headers={"Authorization": f"Token {tokens[name]}",
                     "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as answer:
            return int(answer.status)

    with ThreadPoolExecutor(max_workers=4) as pool:
        statuses = list(pool.map(post, tokens))

    assert statuses == [202] * 4
    assert sorted(FlowBatch.objects.values_list("host__name", flat=True)) == sorted(tokens)


def test_a_body_over_the_upload_limit_is_refused_before_it_is_buffered() -> None:
    body = json.dumps({"host": "node-01", "source": "kernel_log", "filename": "kern.log",
                       "text": KERNEL_LOG * 40}).encode()

    with _serving(SEGSCOPE_MAX_UPLOAD_BYTES="10000") as (url, _):
        # No token: the application would answer 401; the guard answers before it runs.
        request = urllib.request.Request(
            f"{url}/api/ingest/flows/", data=body, method="POST",
            headers={"Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=30)

    assert refused.value.code == 413
    assert json.loads(refused.value.read())["error"]["limit"] == "SEGSCOPE_MAX_UPLOAD_BYTES"
    assert not FlowBatch.objects.exists()
