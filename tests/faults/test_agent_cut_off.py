"""An agent cut off from the server for ten minutes, then back: every snapshot and every flow
record it collected meanwhile arrives, in order, once.

Time is compressed on the agent's side: its monotonic clock is the test's AgentClock, which
each round moves on by the 10 s interval without waiting, and snapshots and flow lines are
stamped with that clock. Sixty rounds make the ten minutes of the cut; the backoff between
attempts (1 s doubling up to 300 s, agent time) is measured on the same clock. The cut itself
is real: the agent talks to the server through a TCP relay that, while cut, takes connections
and never answers, so each attempt costs the agent's HTTP timeout (1 s) of real time."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from tests.faults.hosts import (
    INTERVAL,
    AgentClock,
    SimulatedHost,
    assert_all_arrived_in_order,
    make_agent,
    rounds_until_drained,
    run_round,
)
from tests.faults.stack import Database, Deployment, Relay

CUT_SECONDS = 600.0
MAX_ROUNDS_AFTER = 60  # the longest backoff (300 s) is 30 rounds


def test_an_agent_cut_off_for_ten_minutes_delivers_everything_in_order_once_back(
        deployment: Deployment, database: Database, tmp_path: Path) -> None:
    server = deployment.start_server()
    relay = Relay(int(urlsplit(server).port or 0))
    host = SimulatedHost("cut-01", tmp_path, AgentClock())
    agent = make_agent(host, relay.url, deployment.agent_token(host.name), tmp_path / "spool",
                       http_timeout=1.0)
    try:
        # Given an agent delivering its rounds
        for _ in range(3):
            run_round(agent, host)
        assert len(agent.spool) == 0

        # When its link is cut for ten minutes of its rounds
        relay.cut()
        cut_at = host.clock.now
        while host.clock.now - cut_at < CUT_SECONDS:
            run_round(agent, host)
        assert len(agent.spool) == 2 * int(CUT_SECONDS / INTERVAL)  # a snapshot, a flow batch

        # and then restored, the agent replays its spool as soon as its backoff allows
        relay.restore()
        rounds_until_drained([(agent, host)], MAX_ROUNDS_AFTER)
    finally:
        relay.close()

    # Then every snapshot and flow line is stored once, in the order collected
    assert agent.backoff.failures == 0
    assert_all_arrived_in_order(database, host)
