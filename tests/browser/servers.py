"""The deployment's processes for browser tests: uvicorn serving the ASGI application
(websockets included) and a Celery worker, both on the test database and the test Redis."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from django.db import connection

from bench.deployment import command, free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
STARTUP = 60.0


@dataclass(frozen=True, slots=True)
class LiveServer:
    """A server process and the URL it answers on."""

    url: str
    process: subprocess.Popen[bytes]


def database_url() -> str:
    """The test database, as the processes started here read it."""
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def environment(**overrides: str) -> dict[str, str]:
    # DEBUG serves the static files from the finders, as `make demo` does; the bin/ scripts
    # run this interpreter (the virtualenv's).
    return {**os.environ, "DATABASE_URL": database_url(), "DEBUG": "true",
            "PYTHON": sys.executable, **overrides}


def start_uvicorn(log_level: str = "warning", output: IO[bytes] | None = None,
                  **env: str) -> LiveServer:
    """bin/web (uvicorn serving webapp.asgi), as docker-compose runs it, once it answers; its
    log goes to `output` (a temporary file by default: a pipe nobody reads would block the
    server once its buffer is full), with `env` added to the environment."""
    if output is None:
        output = tempfile.TemporaryFile()
    port = free_port()
    process = subprocess.Popen(
        command("web", "--host", "127.0.0.1", "--port", str(port), "--log-level", log_level),
        cwd=REPO_ROOT, env=environment(**env), stdout=output, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + STARTUP
    while True:
        if process.poll() is not None:
            try:
                output.seek(0)
                text = output.read().decode(errors="replace")
            except (OSError, ValueError):  # a log opened for writing only
                text = "(see its log)"
            raise RuntimeError(f"uvicorn exited: {text}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:
                if response.status == 200:
                    return LiveServer(url, process)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if time.monotonic() > deadline:
            stop(process)
            raise RuntimeError("uvicorn did not answer /healthz")
        time.sleep(0.1)  # paces the readiness probe only


def start_worker() -> subprocess.Popen[bytes]:
    """bin/worker (a Celery worker), as docker-compose runs it, in one process."""
    return subprocess.Popen(
        command("worker", "--pool=solo", "--loglevel=WARNING", "--without-gossip",
                "--without-mingle", "--without-heartbeat"),
        cwd=REPO_ROOT, env=environment(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop(process: subprocess.Popen[bytes], sig: signal.Signals = signal.SIGTERM) -> None:
    """Ask a process to end with `sig`, SIGKILL it if it has not after 30 s."""
    if process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def logged_in_page(browser: Any, server: LiveServer, username: str) -> Any:
    """A new page logged in as `username` (password `<username>-password`), recording every
    console error and uncaught exception in `page.errors`."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.errors = []
    page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    page.goto(f"{server.url}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", f"{username}-password")
    page.click("button[type=submit]")
    page.wait_for_url(f"{server.url}/")
    return page
