"""The load benchmark in small: 50 simulated hosts whose real agents post a few rounds (rule
changes and flow records among them) to the deployment's own processes (bin/web and
bin/worker) on the test database and Redis. Nothing sent is lost or stored twice, and the
analysis catches up with every host's newest snapshot."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from celery import current_app
from django.db import connection
from django.db.models import Sum

from bench import deployment
from bench.loadcheck import issue_tokens, load_fleet
from bench.loadsim import (
    FlowWriter,
    Latencies,
    Schedule,
    Sent,
    SimulatedAgent,
    SimulatedHost,
    drive,
    rule_changes,
    simulated_hosts,
)
from bench.seed import SeedScale, seed_fleet
from tests.browser.servers import database_url
from webapp.analysis.models import AnalysisState, GraphEdge
from webapp.flows.models import FlowBatch, FlowRecord
from webapp.inventory.models import Host
from webapp.rules.models import Snapshot

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.skipif(connection.vendor != "postgresql",
                                 reason="the server processes share the test database")]

AGENTS, ROUNDS, FLOW_LINES = 50, 4, 40
CATCH_UP = 600.0  # a bound on waiting for the worker, not a figure under test


@pytest.fixture
def deployed() -> Iterator[str]:
    """bin/web and bin/worker on the test database and Redis; the web URL."""
    if current_app.conf.task_always_eager:
        pytest.skip("needs the Redis broker (REDIS_URL), as `make test` sets it")
    current_app.control.purge()  # requests other tests left in the queue
    env = deployment.environment(DATABASE_URL=database_url(), LOG_LEVEL="WARNING",
                                 SECURE_SSL_REDIRECT="false", WEB_CONCURRENCY="1")
    web = deployment.start("web", env)
    worker = deployment.start("worker", env, "--pool=solo", "--without-gossip",
                              "--without-mingle", "--without-heartbeat")
    try:
        yield web.url
    finally:
        worker.stop()
        web.stop()


def _drive(hosts: list[SimulatedHost], url: str, workdir: Path) -> tuple[Latencies, Sent]:
    tokens = issue_tokens(h.name for h in hosts)
    latencies, sent = Latencies(), Sent()
    agents = [SimulatedAgent(h, url, tokens[h.name], workdir / "agents", latencies,
                             FlowWriter(workdir / "flows" / f"{h.name}.log", h, AGENTS, i))
              for i, h in enumerate(hosts)]
    first_round_unchanged, _ = rule_changes(hosts, 0.0, seed=1)
    later_rounds_changed, _ = rule_changes(hosts, 0.2, seed=2)

    async def rounds() -> None:
        with ThreadPoolExecutor(max_workers=16) as pool:
            await drive(agents, pool, Schedule(0.0), 1, None, lambda: FLOW_LINES,
                        first_round_unchanged, sent)
            await drive(agents, pool, Schedule(0.0), ROUNDS - 1, None, lambda: FLOW_LINES,
                        later_rounds_changed, sent)

    asyncio.run(rounds())
    return latencies, sent


def _analysis_caught_up() -> bool:
    """No host due or being analysed and every host analysed: each flag, set with its host's
    snapshot, was cleared by a run that read that snapshot or a newer one. (A host whose
    peers' rules changed but not what they let through keeps its partition: see
    docs/analysis.md.)"""
    states = Counter(AnalysisState.objects.values_list("status", flat=True))
    return (not Host.objects.filter(analysis_due_at__isnull=False).exists()
            and states == {AnalysisState.Status.DONE: AGENTS})


def test_fifty_agents_lose_and_duplicate_nothing_and_the_analysis_catches_up(
        deployed: str, tmp_path: Path) -> None:
    # Given a fleet of 50 hosts with its inventory and intent stored
    fleet = seed_fleet(SeedScale(hosts=AGENTS, segments=10, members=5, peers=2))
    load_fleet(fleet)
    hosts = simulated_hosts(fleet)

    # When each host's agent runs four rounds, with rule changes in a fifth of the later ones
    latencies, sent = _drive(hosts, deployed, tmp_path)

    # Then every request was delivered at its first attempt
    seconds, failures = latencies.take()
    assert failures == {}
    assert sent.rounds == AGENTS * ROUNDS
    # and each host has its first snapshot and one per rule change, each stored once
    stored = Counter(Snapshot.objects.values_list("host__name", flat=True))
    assert stored == {h.name: 1 + h.change for h in hosts}
    assert Snapshot.objects.values("host", "content_hash").distinct().count() == sum(
        stored.values())
    # and every other round was a heartbeat the server recognised (else a snapshot follows)
    assert len(seconds["snapshot"]) == sum(stored.values())
    assert len(seconds["heartbeat"]) == AGENTS * ROUNDS - sum(stored.values())
    assert not Host.objects.filter(last_seen_at__isnull=True).exists()
    # and every flow record was accepted and stored once
    assert len(seconds["flows"]) == FlowBatch.objects.count() == AGENTS * ROUNDS
    assert FlowBatch.objects.aggregate(n=Sum("accepted"))["n"] == sent.flow_lines
    assert FlowRecord.objects.aggregate(n=Sum("records"))["n"] == sent.flow_lines
    assert sent.flow_lines == AGENTS * ROUNDS * FLOW_LINES

    # And the worker's analysis reaches every host's newest snapshot
    deadline = time.monotonic() + CATCH_UP
    while not _analysis_caught_up():
        assert time.monotonic() < deadline, "the analysis did not catch up"
        time.sleep(0.5)  # paces the polling only
    newest = dict(Host.objects.values_list("name", "last_snapshot__content_hash"))
    for host in Host.objects.all():
        edge = GraphEdge.objects.filter(host=host).first()
        if edge is not None:
            assert edge.snapshots[host.name] == newest[host.name]
