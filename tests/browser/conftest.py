"""A real browser: Playwright driving Debian's chromium against the application served as
deployed (uvicorn, the ASGI application with its websockets) on the test database, with a
Celery worker and Redis when REDIS_URL is set."""

import os
import shutil
from collections.abc import Iterator

import pytest
from celery import current_app
from django.db import connection

from tests.browser.servers import LiveServer, start_uvicorn, start_worker, stop

CHROMIUM = "/usr/bin/chromium"
# Flags for a machine without a display or outside network (see docs): no sandbox as root,
# no background connections.
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"browser tests need {CHROMIUM} (Debian package chromium)", pytrace=False)
    # Playwright's sync API runs an event loop in this thread; the ORM calls these tests make
    # around it are plain synchronous ones. Allowed only while the browser is up.
    before = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    try:
        with sync_playwright() as playwright:
            launched = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            yield launched
            launched.close()
    finally:
        if before is None:
            del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = before


# Module scope: a server or worker that outlived the browser tests would take the tasks later
# tests enqueue and touch their database while it is being flushed.
@pytest.fixture(scope="module")
def asgi_server(django_db_setup: None, django_db_blocker: object) -> Iterator[LiveServer]:
    """uvicorn serving webapp.asgi on the test database (PostgreSQL: another process shares
    it)."""
    if connection.vendor != "postgresql":
        pytest.skip("the server process shares the test database over PostgreSQL")
    server = start_uvicorn()
    try:
        yield server
    finally:
        stop(server.process)


@pytest.fixture(scope="module")
def celery_worker(django_db_setup: None) -> Iterator[object]:
    """A Celery worker on the test database and the test Redis broker."""
    if current_app.conf.task_always_eager:
        pytest.skip("needs the Redis broker (REDIS_URL), as `make test` sets it")
    current_app.control.purge()  # requests other tests left in the queue
    worker = start_worker()
    try:
        yield worker
    finally:
        stop(worker)
