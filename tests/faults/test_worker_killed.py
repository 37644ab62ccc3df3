"""A Celery worker process killed (SIGKILL) in the middle of a host's analysis: the task is
handed back to the broker, runs again, and its result is stored once."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import psycopg

from collectors.agent.protocol import snapshot_request
from collectors.agent.transport import DELIVERED, HttpTransport
from tests.faults.hosts import EPOCH, segmented_fleet, segmented_rules
from tests.faults.stack import Database, Deployment, children, terminate, wait_until

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


def test_it_runs_an_analysis_again_when_its_worker_is_killed_and_stores_it_once(
        deployment: Deployment, database: Database, tmp_path: Path) -> None:
    # Given kill-01 analysed once from its first snapshot
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(segmented_fleet(HOST, SUBNET))
    deployment.manage("import_inventory", str(inventory))
    agent = HttpTransport(deployment.start_server(), deployment.agent_token(HOST))
    worker = deployment.start_worker()
    first = snapshot_request(HOST, EPOCH, {"iptables-save": segmented_rules(SUBNET, (5432,))})
    assert agent.send(first).result == DELIVERED
    done = wait_until(lambda: (s := analysis_state(database)) and s[0] == "done" and s[2] and s,
                      "the first analysis stored", 120)
    stored = edges(database)
    assert stored and all(e[2][HOST] == first.content_hash for e in stored)

    # and a second snapshot (new counters) waiting in the broker while no worker runs
    terminate(worker)
    second = snapshot_request(HOST, EPOCH + 60, {
        "iptables-save": segmented_rules(SUBNET, (5432,), hits=7)})
    assert agent.send(second).result == DELIVERED

    # When the next worker's process is killed while its analysis waits, claimed and running,
    # on the snapshots table that the test holds locked
    with psycopg.connect(database.conninfo()) as lock:
        lock.execute("LOCK TABLE rules_snapshot IN ACCESS EXCLUSIVE MODE")
        worker = deployment.start_worker()
        wait_until(lambda: analysis_state(database)[:2] == ("running", done[1] + 1),
                   "the analysis claimed and marked running", 120)
        wait_until(lambda: database.value(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND datname = current_database() AND query LIKE %s", '%"rules_snapshot"%'),
            "the analysis waiting on the snapshots table")
        pool = wait_until(lambda: children(worker.pid), "the worker's pool process")
        for pid in pool:
            os.kill(pid, signal.SIGKILL)
        lock.rollback()

    # Then the task runs again, in a new pool process, and stores the partition once
    after = wait_until(lambda: (s := analysis_state(database)) and s[0] == "done" and s,
                       "the analysis run again and stored", timeout=90)
    assert after[1] == done[1] + 2  # the killed run and the one that stored
    assert after[2] != done[2]
    again = edges(database)
    assert len(again) == len(stored)
    assert len({(src, dst) for src, dst, _ in again}) == len(again)
    assert all(e[2][HOST] == second.content_hash for e in again)
    assert database.value("SELECT analysis_due_at FROM inventory_host WHERE name = %s",
                          HOST) is None
    assert "SIGKILL" in deployment.log("worker")
