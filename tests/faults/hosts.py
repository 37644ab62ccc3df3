"""Hosts the fault tests' agents collect from: rules that change every round and a flow log
that gains a line every round, both stamped with the agent's clock, so that every snapshot and
every flow record is one that the server's rows can be counted and ordered against."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from collectors.agent.collect import Collection
from collectors.agent.follow import FlowSource
from collectors.agent.runner import Agent, AgentConfig
from collectors.agent.spool import Backoff
from collectors.agent.transport import HttpTransport
from tests.faults.stack import Database

EPOCH = 1795662000.0  # 2026-11-26T03:00:00Z: the agents' time starts here
INTERVAL = 10.0
FIRST_PORT = 20000


@dataclass
class AgentClock:
    """The agent's monotonic clock, moved by the test: a round of agent time costs no real
    time, so that ten minutes of rounds and backoff run in seconds."""

    now: float = 0.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float = INTERVAL) -> None:
        self.now += seconds


@dataclass
class SimulatedHost:
    """A host whose ruleset opens one more port every round (`padding` extra rules make its
    dumps larger) and whose ulogd2 log gains one flow to a port of its own every round."""

    name: str
    directory: Path
    clock: AgentClock
    padding: int = 0
    rounds: int = 0
    flows: int = 0
    hashes: list[str] = field(default_factory=list)

    @property
    def flow_log(self) -> Path:
        return self.directory / f"{self.name}-ulogd.json"

    def collect(self) -> Collection:
        """This round's dumps, collected at the agent's time."""
        self.rounds += 1
        rules = [f"-A INPUT -p tcp -m tcp --dport {FIRST_PORT + n} -j ACCEPT"
                 for n in range(self.rounds)]
        rules += [f"-A OUTPUT -d 198.51.100.{n % 250}/32 -m comment --comment pad-{n} -j ACCEPT"
                  for n in range(self.padding)]
        text = "\n".join(["*filter", ":INPUT DROP [0:0]", ":FORWARD DROP [0:0]",
                          ":OUTPUT ACCEPT [0:0]", *rules, "COMMIT", ""])
        collection = Collection({"iptables-save": text}, EPOCH + self.clock.now)
        self.hashes.append(collection.hash)
        return collection

    def log_flow(self) -> None:
        """Append one dropped flow whose destination port numbers it (1, 2, 3, ...)."""
        self.flows += 1
        at = EPOCH + self.clock.now
        line = {"dvc": self.name, "raw.pktlen": 60, "raw.pktcount": 1,
                "oob.prefix": "fw-in-drop ", "oob.time.sec": int(at), "oob.time.usec": 0,
                "oob.hook": 1, "oob.family": 2, "oob.protocol": 2048, "oob.in": "eth0",
                "oob.out": "", "ip.protocol": 6, "src_ip": "203.0.113.9",
                "dest_ip": "192.0.2.11", "src_port": 51000, "dest_port": self.flows,
                "tcp.syn": 1}
        with open(self.flow_log, "a", encoding="utf-8") as log:
            log.write(json.dumps(line) + "\n")


def make_agent(host: SimulatedHost, server: str, token: str, spool_dir: Path,
               http_timeout: float = 5.0, spool_max_bytes: int | None = None) -> Agent:
    """The agent of `host` on the test's clock, sending to `server`, following its flow log;
    backoff without jitter (the longest wait each time) so that a run is repeatable."""
    config = AgentConfig(host=host.name, spool_dir=spool_dir,
                         flow_sources=(FlowSource("ulogd2", str(host.flow_log)),),
                         interval=INTERVAL, counters_every=300.0,
                         spool_max_bytes=spool_max_bytes)
    return Agent(config, HttpTransport(server, token, timeout=http_timeout),
                 backoff=Backoff(random=lambda: 1.0), clock=host.clock, collect=host.collect)


def run_round(agent: Agent, host: SimulatedHost) -> None:
    """One interval of agent time: a new flow line, the agent's round, the clock moves on."""
    host.log_flow()
    agent.run_round()
    host.clock.advance()


def rounds_until_drained(agents: Sequence[tuple[Agent, SimulatedHost]], most: int) -> None:
    """Rounds of every agent until all their spools are empty; fail after `most` rounds."""
    for _ in range(most):
        for agent, host in agents:
            run_round(agent, host)
        if not any(len(agent.spool) for agent, _ in agents):
            return
    raise AssertionError(f"the spools did not drain in {most} rounds")


def segmented_fleet(host: str, subnet: int) -> str:
    """The inventory of one host running web-1 and db-1 (bridged), for the analysis."""
    return f"""hosts:
  - {{name: {host}, addresses: [192.0.2.{subnet}]}}
workloads:
  - {{name: {host}-web, host: {host}, addresses: [10.{subnet}.0.5], attachment: bridged,
     interface: cali{subnet}0, labels: {{app: web}}, started_at: 2026-11-26T02:00:00Z}}
  - {{name: {host}-db, host: {host}, addresses: [10.{subnet}.0.9], attachment: bridged,
     interface: cali{subnet}1, labels: {{app: db}}, started_at: 2026-11-26T02:00:00Z}}
"""


def segmented_rules(subnet: int, ports: tuple[int, ...], hits: int = 0) -> str:
    """The host's rules: web may reach db on `ports`, everything else forwarded is dropped;
    `hits` is the counter on the first rule (a snapshot that differs in counters alone)."""
    accepts = [f"[{hits if n == 0 else 0}:{hits * 60 if n == 0 else 0}] -A FORWARD "
               f"-o cali{subnet}1 -s 10.{subnet}.0.5/32 -p tcp -m tcp --dport {port} -j ACCEPT"
               for n, port in enumerate(ports)]
    return "\n".join(["*filter", ":INPUT ACCEPT [0:0]", ":FORWARD DROP [0:0]",
                      ":OUTPUT ACCEPT [0:0]", *accepts, "COMMIT", ""])


def assert_all_arrived_in_order(database: Database, host: SimulatedHost) -> None:
    """Every snapshot the host's agent collected is stored once, in collection order, and every
    flow line once, in the order it was logged (flow n goes to port n)."""
    snapshots = database.rows(
        "SELECT s.content_hash, s.collected_at FROM rules_snapshot s JOIN inventory_host h "
        "ON h.id = s.host_id WHERE h.name = %s ORDER BY s.id", host.name)
    assert len(snapshots) == host.rounds
    assert [digest for digest, _ in snapshots] == host.hashes
    times = [at for _, at in snapshots]
    assert times == sorted(times) and len(set(times)) == len(times)
    ports = [port for (port,) in database.rows(
        "SELECT f.dport FROM flows_flowrecord f JOIN inventory_host h ON h.id = f.host_id "
        "WHERE h.name = %s ORDER BY f.id", host.name)]
    assert ports == list(range(1, host.flows + 1))
