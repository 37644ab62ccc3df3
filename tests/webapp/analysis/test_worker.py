"""A real Celery worker, started as the deployment starts it, analyses what an agent posts."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from celery import current_app
from django.db import connection

from bench.deployment import command
from tests.browser.servers import stop
from tests.webapp.inventory.personas import AgentClient
from tests.webapp.rules.dumps import IPSET_SAVE, IPTABLES_SAVE
from webapp.analysis.models import GraphEdge
from webapp.inventory.models import Host, Workload

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(current_app.conf.task_always_eager,
                       reason="needs the Redis broker (REDIS_URL), as `make test` sets it"),
    pytest.mark.skipif(connection.vendor != "postgresql",
                       reason="the worker shares the test database over PostgreSQL")]

REPO_ROOT = Path(__file__).resolve().parents[3]
DEADLINE = 60.0


def _database_url() -> str:
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def worker() -> Iterator[subprocess.Popen[bytes]]:
    """bin/worker (as docker-compose runs it) on the test database and the test Redis."""
    current_app.control.purge()  # requests other tests left in the queue
    env = dict(os.environ, DATABASE_URL=_database_url(), PYTHON=sys.executable)
    process = subprocess.Popen(
        command("worker", "--pool=solo", "--loglevel=WARNING", "--without-gossip",
                "--without-mingle", "--without-heartbeat"),
        cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        stop(process)


def test_a_worker_stores_the_partition_of_a_host_that_posted_a_snapshot(
        agent: AgentClient, node_01: Host, worker: subprocess.Popen[bytes]) -> None:
    Workload.objects.create(name="payments-7f9c", host=node_01, addresses=["10.1.0.5"],
                            interface="cali0003", labels={"app": "payments"},
                            started_at="2026-11-26T03:00:00Z")
    Workload.objects.create(name="ledger-1", host=node_01, addresses=["10.1.0.9"],
                            interface="cali1a2b3c", labels={"app": "ledger"},
                            started_at="2026-11-26T03:00:00Z")

    response = agent.send("/api/ingest/snapshots/", {
        "host": "node-01", "collected_at": "2026-11-26T03:00:05Z",
        "dumps": {"iptables-save": IPTABLES_SAVE, "ipset-save": IPSET_SAVE}})

    assert response.status_code == 201
    deadline = time.monotonic() + DEADLINE
    while not GraphEdge.objects.filter(host=node_01).exists():
        assert worker.poll() is None, worker.stdout.read().decode() if worker.stdout else ""
        assert time.monotonic() < deadline, "no worker stored the host's partition"
        time.sleep(0.05)  # paces the polling only
    edges = GraphEdge.objects.filter(host=node_01)
    assert [(e.src, e.dst, e.allowed) for e in edges] == [
        ("payments-7f9c", "ledger-1", ["tcp/5432"])]
    assert all(e.snapshots == {"node-01": response.json()["hash"]} for e in edges)
    assert Host.objects.get(pk=node_01.pk).analysis_due_at is None


def test_convergence_waits_in_the_background_queue_that_a_worker_takes_by_default(
        request: pytest.FixtureRequest) -> None:
    import redis
    from django.conf import settings

    from webapp.analysis.tasks import compute_convergence_task

    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    current_app.control.purge()

    compute_convergence_task.delay()

    assert (broker.llen("background"), broker.llen("celery")) == (1, 0)
    worker = request.getfixturevalue("worker")  # bin/worker as started without -Q
    deadline = time.monotonic() + DEADLINE
    while broker.llen("background") or broker.hlen("unacked"):
        assert worker.poll() is None, worker.stdout.read().decode() if worker.stdout else ""
        assert time.monotonic() < deadline, "no worker took the background queue"
        time.sleep(0.05)  # paces the polling only
