"""PostgreSQL connections are pooled per process (DATABASE_POOL_SIZE); SQLite never is."""

import json
import multiprocessing
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client

REPO_ROOT = Path(__file__).resolve().parents[2]

PRINT_DATABASE = ("import django, json; django.setup(); from django.conf import settings; "
                  "print(json.dumps(settings.DATABASES['default']))")


def _database(**environment: str) -> subprocess.CompletedProcess[str]:
    """The default database's settings as a fresh interpreter reads them from `environment`."""
    return subprocess.run([sys.executable, "-c", PRINT_DATABASE], cwd=REPO_ROOT,
                          env={**os.environ, "DJANGO_SETTINGS_MODULE": "webapp.settings",
                               **environment},
                          capture_output=True, text=True, timeout=120)


def test_a_postgresql_database_gets_a_pool_of_the_configured_size() -> None:
    result = _database(DATABASE_URL="postgres://segscope@db:5432/segscope",
                       DATABASE_POOL_SIZE="4")

    database = json.loads(result.stdout)
    assert database["OPTIONS"]["pool"]["max_size"] == 4
    assert database["CONN_HEALTH_CHECKS"] is True
    assert database["CONN_MAX_AGE"] == 0  # Django refuses persistent connections with a pool


def test_a_pool_size_of_zero_opens_a_connection_per_request() -> None:
    result = _database(DATABASE_URL="postgres://segscope@db:5432/segscope",
                       DATABASE_POOL_SIZE="0")

    assert "pool" not in json.loads(result.stdout).get("OPTIONS", {})


def test_sqlite_is_never_pooled() -> None:
    result = _database(DATABASE_URL="sqlite:////tmp/segscope-pool-test.sqlite3")

    assert "pool" not in json.loads(result.stdout).get("OPTIONS", {})


def test_settings_fail_loudly_on_a_bad_pool_size() -> None:
    result = _database(DATABASE_URL="postgres://segscope@db:5432/segscope",
                       DATABASE_POOL_SIZE="-1")

    assert result.returncode != 0
    assert "DATABASE_POOL_SIZE='-1' is not a whole number" in result.stderr


@pytest.mark.skipif(connection.vendor != "postgresql", reason="pools are PostgreSQL's")
@pytest.mark.django_db(transaction=True)
def test_requests_one_after_another_open_no_new_connection(client: Client) -> None:
    pool = connection.pool  # type: ignore[attr-defined]
    assert pool is not None
    assert client.get("/healthz").status_code == 200  # the pool is open
    connection.close()
    opened = pool.get_stats().get("connections_num", 0)

    for _ in range(5):
        assert client.get("/healthz").status_code == 200
        connection.close()  # as at the end of a request: back to the pool

    # At most one more: a pool still growing for the first request's wait.
    assert pool.get_stats().get("connections_num", 0) <= opened + 1


def _backend() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = int(cursor.fetchone()[0])
    connection.close()
    return backend


@pytest.mark.skipif(connection.vendor != "postgresql", reason="pools are PostgreSQL's")
@pytest.mark.django_db(transaction=True)
def test_a_forked_child_opens_connections_of_its_own() -> None:
    _backend()  # the pool is open
    lent = connection.pool.get_stats()["pool_size"]  # type: ignore[attr-defined]
    parents = {_backend() for _ in range(lent + 1)}  # each of the pool's, back in it

    with multiprocessing.get_context("fork").Pool(1) as children:
        child = children.apply(_backend)

    assert child not in parents
    assert all(_backend() for _ in range(lent + 1))  # the parent's connections still answer
