"""The disk under the agent's spool fills up (a 256 KiB tmpfs) while the server is out of
reach: the agent says so, drops the oldest spooled snapshots to keep the newest state, keeps
flow lines it cannot spool in their log, never leaves a damaged entry, and once the server is
back, delivers the newest snapshot and every flow line in order."""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from collectors.agent.spool import Spool
from tests.faults.hosts import (
    AgentClock,
    SimulatedHost,
    make_agent,
    rounds_until_drained,
    run_round,
)
from tests.faults.stack import Database, Deployment, Relay

ROUNDS_CUT, MAX_ROUNDS_AFTER = 40, 60
PADDING = 250  # rules beside the growing ones: a snapshot of about 20 KiB


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 256 KiB tmpfs, mounted for the test."""
    if os.geteuid() != 0:
        pytest.fail("this test mounts a tmpfs: it must run as root", pytrace=False)
    mount = tmp_path / "spool"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)],
                   check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_a_full_spool_disk_keeps_the_newest_state_and_every_flow_line(
        deployment: Deployment, database: Database, small_disk: Path, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    server = deployment.start_server()
    relay = Relay(int(urlsplit(server).port or 0))
    host = SimulatedHost("full-01", tmp_path, AgentClock(), padding=PADDING)
    agent = make_agent(host, relay.url, deployment.agent_token(host.name), small_disk,
                       http_timeout=1.0)
    try:
        # Given an agent whose server is out of reach for more rounds than its disk holds
        relay.cut()
        with caplog.at_level(logging.INFO, logger="segscope.agent"):
            for _ in range(ROUNDS_CUT):
                run_round(agent, host)

        # Then it says so, and what it spooled reads back whole, the newest snapshot last
        errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert any("is full" in e and "dropped to keep the newer snapshot" in e
                   for e in errors)
        reopened = Spool(small_disk)
        requests = [entry.load() for entry in reopened.entries()]
        assert not list(small_disk.glob(".*.tmp"))
        snapshots = [r.content_hash for r in requests if r.kind == "snapshot"]
        assert snapshots[-1] == host.hashes[-1]
        assert 0 < len(snapshots) < ROUNDS_CUT
        flows = [r for r in requests if r.kind == "flows"]
        assert "".join(str(r.body["text"]) for r in flows) == host.flow_log.read_text()[
            :sum(len(str(r.body["text"])) for r in flows)]

        # When the server is in reach again
        relay.restore()
        rounds_until_drained([(agent, host)], MAX_ROUNDS_AFTER)
    finally:
        relay.close()

    # Then the newest snapshot and every flow line, in order, are stored once; the snapshots
    # dropped on the full disk are missing and the others are in collection order
    stored = [digest for (digest,) in database.rows(
        "SELECT s.content_hash FROM rules_snapshot s JOIN inventory_host h ON h.id = s.host_id "
        "WHERE h.name = %s ORDER BY s.id", host.name)]
    assert stored[-1] == host.hashes[-1]
    positions = [host.hashes.index(digest) for digest in stored]
    assert positions == sorted(set(positions))
    ports = [port for (port,) in database.rows(
        "SELECT f.dport FROM flows_flowrecord f JOIN inventory_host h ON h.id = f.host_id "
        "WHERE h.name = %s ORDER BY f.id", host.name)]
    assert ports == list(range(1, host.flows + 1))
