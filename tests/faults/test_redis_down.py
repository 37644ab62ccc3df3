"""Redis (the Celery broker and channel layer) down while agents upload: ingest still commits
the snapshots and flow records with the hosts' dirty flags set, and the analysis catches up
once Redis is back (the worker sweeps the flags when it reconnects)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from collectors.agent.protocol import flows_request, snapshot_request
from collectors.agent.transport import DELIVERED, HttpTransport
from tests.faults.hosts import EPOCH, segmented_fleet, segmented_rules
from tests.faults.stack import Database, Deployment, Redis, wait_until

HOST, SUBNET = "redis-01", 32
FLOWS = 5


def stored_from(database: Database, content_hash: str) -> list[tuple[str, str, list[object]]]:
    """The host's stored edges when every one was computed from the snapshot `content_hash`."""
    rows = database.rows(
        "SELECT e.src, e.dst, e.allowed, e.snapshots FROM analysis_graphedge e "
        "JOIN inventory_host h ON h.id = e.host_id WHERE h.name = %s", HOST)
    if rows and all(snapshots.get(HOST) == content_hash for *_, snapshots in rows):
        return [(src, dst, allowed) for src, dst, allowed, _ in rows]
    return []


def count(database: Database, table: str) -> int:
    return int(database.value(f"SELECT count(*) FROM {table} t JOIN inventory_host h "
                              "ON h.id = t.host_id WHERE h.name = %s", HOST))


def test_it_ingests_while_redis_is_down_and_analyses_once_redis_is_back(
        deployment: Deployment, database: Database, redis_server: Redis,
        tmp_path: Path) -> None:
    # Given redis-01 analysed from its first snapshot
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(segmented_fleet(HOST, SUBNET))
    deployment.manage("import_inventory", str(inventory))
    agent = HttpTransport(deployment.start_server(), deployment.agent_token(HOST), timeout=30)
    deployment.start_worker()
    first = snapshot_request(HOST, EPOCH, {"iptables-save": segmented_rules(SUBNET, (5432,))})
    assert agent.send(first).result == DELIVERED
    wait_until(lambda: stored_from(database, first.content_hash), "the first analysis stored", 120)

    # When Redis stops and the agent uploads new rules (web may now reach db on 8080 too) and
    # a batch of flows
    redis_server.stop()
    second = snapshot_request(HOST, EPOCH + 60, {
        "iptables-save": segmented_rules(SUBNET, (5432, 8080))})
    lines = "".join(json.dumps({
        "oob.time.sec": int(EPOCH) + 60 + n, "oob.prefix": "fw-in-drop ", "src_ip": "203.0.113.9",
        "dest_ip": f"10.{SUBNET}.0.9", "ip.protocol": 6, "dest_port": 9000 + n}) + "\n"
        for n in range(FLOWS))
    started = time.monotonic()
    answers = [agent.send(second), agent.send(flows_request(HOST, "ulogd2", "ulogd.json", lines))]
    took = time.monotonic() - started

    # Then both are stored, the host is flagged for analysis, and the answers came promptly
    assert [(a.result, a.status) for a in answers] == [(DELIVERED, 201), (DELIVERED, 202)]
    assert took < 20
    assert count(database, "rules_snapshot") == 2
    assert count(database, "flows_flowrecord") == FLOWS
    assert database.value("SELECT count(DISTINCT dport) FROM flows_flowrecord f JOIN "
                          "inventory_host h ON h.id = f.host_id WHERE h.name = %s", HOST) == FLOWS
    assert database.value("SELECT analysis_due_at IS NOT NULL FROM inventory_host "
                          "WHERE name = %s", HOST)
    assert stored_from(database, first.content_hash)  # nothing analysed without the broker

    # And once Redis is back, the worker reconnects and the analysis of the new rules is stored
    redis_server.start()
    edges = wait_until(lambda: stored_from(database, second.content_hash),
                       "the analysis of the snapshot ingested while Redis was down", 120)
    assert any("8080" in json.dumps(allowed) for _, _, allowed in edges)
    assert database.value("SELECT analysis_due_at FROM inventory_host WHERE name = %s",
                          HOST) is None
