"""A Celery worker killed (SIGKILL) in the middle of a host's analysis: the analysis runs again
and its result is stored once. A killed pool process's task is handed back to the broker at
once; a worker killed whole leaves its task unacknowledged, and the sweep flags the host again
once its claim has shown no progress for the lease."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from collectors.agent.protocol import Request, snapshot_request
from collectors.agent.transport import DELIVERED, HttpTransport
from tests.browser.servers import stop
from tests.faults.hosts import EPOCH, segmented_fleet, segmented_rules
from tests.faults.stack import Database, Deployment, Redis, children, wait_until

HOST, SUBNET = "kill-01", 31


def analysis_state(database: Database) -> tuple[str, int, str] | None:
    rows = database.rows(
        "SELECT s.status, s.run, s.inputs_hash FROM analysis_analysisstate s "
        "JOIN inventory_host h ON h.id = s.host_id WHERE h.name = %s", HOST)
    return rows[0] if rows else None


def edges(database: Database) -> list[tuple[str, str, dict[str, str]]]:
    """The host's stored edges: source, destination, and the snapshot each host's rules
    were read from."""
    return [(src, dst, snapshots) for src, dst, snapshots in database.rows(
        "SELECT e.src, e.dst, e.snapshots FROM analysis_graphedge e "
        "JOIN inventory_host h ON h.id = e.host_id WHERE h.name = %s", HOST)]


@dataclass(frozen=True)
class Analysed:
    """kill-01 analysed from its first snapshot (`state`, `edges`), and its `second`
    snapshot stored while no worker runs: that analysis waits in the broker."""

    state: tuple[str, int, str]
    edges: list[tuple[str, str, dict[str, str]]]
    second: Request


def analysed_once_then_a_snapshot_waiting(deployment: Deployment, database: Database,
                                          redis_server: Redis, tmp_path: Path) -> Analysed:
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(segmented_fleet(HOST, SUBNET))
    deployment.manage("import_inventory", str(inventory))
    agent = HttpTransport(deployment.start_server(), deployment.agent_token(HOST))
    worker = deployment.start_worker()
    first = snapshot_request(HOST, EPOCH, {"iptables-save": segmented_rules(SUBNET, (5432,))})
    assert agent.send(first).result == DELIVERED
    state = wait_until(lambda: (s := analysis_state(database)) and s[0] == "done" and s[2] and s,
                       "the first analysis stored", 120)
    stored = edges(database)
    assert stored and all(e[2][HOST] == first.content_hash for e in stored)
    wait_until(redis_server.idle, "the worker done with what the analysis asked for")
    stop(worker)
    second = snapshot_request(HOST, EPOCH + 60, {
        "iptables-save": segmented_rules(SUBNET, (5432,), hits=7)})  # new counters
    assert agent.send(second).result == DELIVERED
    return Analysed(state, stored, second)


def kill_mid_analysis(deployment: Deployment, database: Database, given: Analysed,
                      victims: Callable[[subprocess.Popen[bytes]], list[int]]) -> None:
    """Start a worker and SIGKILL `victims(worker)` while its analysis of the waiting snapshot
    is claimed, marked running and blocked on the snapshots table the test holds locked."""
    with psycopg.connect(database.conninfo()) as lock:
        lock.execute("LOCK TABLE rules_snapshot IN ACCESS EXCLUSIVE MODE")
        worker = deployment.start_worker()
        wait_until(lambda: (s := analysis_state(database)) and s[:2] == (
            "running", given.state[1] + 1), "the analysis claimed", 120)
        wait_until(lambda: database.value(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND datname = current_database() AND query LIKE %s", '%"rules_snapshot"%'),
            "the analysis waiting on the snapshots table")
        for pid in victims(worker):
            os.kill(pid, signal.SIGKILL)
        lock.rollback()


def assert_stored_once_again(database: Database, given: Analysed) -> None:
    """The analysis ran again (the killed run and the one that stored) and stored as many
    edges as before, each (src, dst) once, all computed from the second snapshot."""
    after: Any = wait_until(lambda: (s := analysis_state(database)) and s[0] == "done" and s,
                            "the analysis run again and stored", 120)
    assert after[1] == given.state[1] + 2
    assert after[2] != given.state[2]
    again = edges(database)
    assert len(again) == len(given.edges)
    assert len({(src, dst) for src, dst, _ in again}) == len(again)
    assert all(e[2][HOST] == given.second.content_hash for e in again)
    assert database.value("SELECT analysis_due_at FROM inventory_host WHERE name = %s",
                          HOST) is None


def test_it_runs_an_analysis_again_when_its_pool_process_is_killed_and_stores_it_once(
        deployment: Deployment, database: Database, redis_server: Redis,
        tmp_path: Path) -> None:
    # Given an analysis waiting in the broker
    given = analysed_once_then_a_snapshot_waiting(deployment, database, redis_server, tmp_path)

    # When the worker's pool process running it is killed
    kill_mid_analysis(deployment, database, given, lambda worker: children(worker.pid))

    # Then the worker hands the task back, a new pool process runs it, and it is stored once
    assert_stored_once_again(database, given)
    assert "WorkerLostError" in deployment.log("worker")


def test_it_analyses_again_when_the_whole_worker_is_killed_and_stores_it_once(
        deployment: Deployment, database: Database, redis_server: Redis,
        tmp_path: Path) -> None:
    # Given an analysis waiting in the broker
    given = analysed_once_then_a_snapshot_waiting(deployment, database, redis_server, tmp_path)

    # When the whole worker is killed while running it: no process is left to hand the task
    # back, and the broker holds it unacknowledged for its visibility timeout (an hour)
    kill_mid_analysis(deployment, database, given,
                      lambda worker: [worker.pid, *children(worker.pid)])
    wait_until(lambda: database.value(
        "SELECT now() - s.updated_at > interval '1 second' FROM analysis_analysisstate s "
        "JOIN inventory_host h ON h.id = s.host_id WHERE h.name = %s", HOST),
        "the claim older than the lease of a second")

    # and a worker whose lease is a second starts
    deployment.start_worker(SEGSCOPE_ANALYSIS_LEASE_SECONDS="1")

    # Then its sweep finds the claim without progress, flags the host again, and the analysis
    # is stored once
    assert_stored_once_again(database, given)
    assert "claimed by a worker that is gone are due again" in deployment.log("worker")
