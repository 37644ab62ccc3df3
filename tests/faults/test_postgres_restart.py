"""PostgreSQL stopped, started and restarted under the server while two agents upload: the
agents spool what the server could not store and replay it in order once the database is
back, and every snapshot and flow record is stored once."""

from __future__ import annotations

from pathlib import Path

from tests.faults.hosts import (
    AgentClock,
    SimulatedHost,
    assert_all_arrived_in_order,
    make_agent,
    rounds_until_drained,
    run_round,
)
from tests.faults.stack import Database, Deployment, Postgres

ROUNDS_BEFORE, ROUNDS_DOWN, MAX_ROUNDS_AFTER = 3, 4, 40


def test_agents_spool_while_postgres_is_down_and_replay_in_order_without_duplicates(
        deployment: Deployment, postgres: Postgres, database: Database,
        tmp_path: Path) -> None:
    server = deployment.start_server()
    hosts = [SimulatedHost(f"pg-{n:02d}", tmp_path, AgentClock()) for n in (1, 2)]
    agents = [make_agent(h, server, deployment.agent_token(h.name), tmp_path / h.name)
              for h in hosts]

    pairs = list(zip(agents, hosts, strict=True))

    def every_agent_round() -> None:
        for agent, host in pairs:
            run_round(agent, host)

    # Given two agents that have delivered a few rounds
    for _ in range(ROUNDS_BEFORE):
        every_agent_round()
    assert not any(len(a.spool) for a in agents)

    # When PostgreSQL stops while they upload, their requests are spooled
    postgres.stop()
    for _ in range(ROUNDS_DOWN):
        every_agent_round()
    assert all(len(a.spool) >= 2 * ROUNDS_DOWN for a in agents)

    # and once it is back the spools drain as the backoff allows
    postgres.start()
    rounds_until_drained(pairs, MAX_ROUNDS_AFTER)

    # and a restart between two rounds (the server's connections go stale) loses nothing
    postgres.restart()
    rounds_until_drained(pairs, MAX_ROUNDS_AFTER)

    # Then every snapshot and flow line each agent collected is stored once, in order
    for host, agent in zip(hosts, agents, strict=True):
        assert host.rounds > ROUNDS_BEFORE + ROUNDS_DOWN
        assert_all_arrived_in_order(database, host)
        assert not (agent.config.spool_dir / "rejected").exists()
