"""Fault tests: the services run here are the tests' own (a PostgreSQL cluster, a Redis server,
uvicorn and Celery workers on them), so that the tests can stop, restart and kill them."""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.stack import Database, Deployment, Postgres, Redis

TEMPLATE = "segscope_migrated"
_databases = itertools.count(1)


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """A PostgreSQL cluster of the fault tests' own, holding a migrated template database."""
    if shutil.which("redis-server") is None:
        pytest.fail("the fault tests need redis-server (Debian package redis-server)")
    cluster = Postgres()
    try:
        cluster.start()
        template = cluster.create_database(TEMPLATE)
        Deployment(cluster.root, template, "").manage("migrate", "--no-input", "-v0")
        yield cluster
    finally:
        cluster.remove()


@pytest.fixture
def database(postgres: Postgres) -> Database:
    """A fresh copy of the migrated database for one test."""
    if not (postgres.data / "postmaster.pid").exists():
        postgres.start()  # a test that failed with the cluster stopped
    return postgres.create_database(f"faults_{next(_databases)}", template=TEMPLATE)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[Redis]:
    server = Redis(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def deployment(tmp_path: Path, database: Database, redis_server: Redis) -> Iterator[Deployment]:
    """The application's processes on the test's database and Redis; stopped afterwards."""
    deployed = Deployment(tmp_path, database, redis_server.url)
    try:
        yield deployed
    finally:
        deployed.stop()
