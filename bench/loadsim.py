"""Simulated hosts for load: each one's kernel state (the seed fleet's rendered tables, rule
changes, short-lived workloads in its sets), flow logs it writes, and its agent.

The agent is the real one (`collectors.agent.runner.Agent` with its `HttpTransport`, spool and
flow-log follower): only what it collects is simulated, and each request's latency is recorded
on the way through. Rounds run in a thread pool, scheduled by asyncio."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from bench.fleet import workload_address
from bench.seed import SeedFleet
from collectors.agent.collect import Collection
from collectors.agent.follow import FlowSource
from collectors.agent.protocol import Request
from collectors.agent.runner import Agent, AgentConfig
from collectors.agent.transport import DELIVERED, HttpTransport, Outcome
from collectors.controlplane import chain_name, set_name

# The rule every rendered filter table starts FORWARD with; changes go right after it.
ANCHOR = "-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n"
FLOW_PORTS = (443, 5432, 6379, 8000, 8080)


@dataclass
class SimulatedHost:
    """One host's kernel state as its tools would print it, changed by the benchmark."""

    name: str
    iptables: str
    ipset: str
    segments: tuple[int, ...]  # segment numbers of its workloads (flow destinations)
    sets: frozenset[str]  # ipset names its tables hold
    change: int = 0  # rule changes so far; the current one is an extra rule
    dispatch: dict[str, str] = field(default_factory=dict)  # churned interface -> chain
    members: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def change_rules(self) -> int:
        """A new extra rule replaces the last one (an operator's or a control plane's edit):
        two rule lines change, or one the first time."""
        with self.lock:
            self.change += 1
            return 1 if self.change == 1 else 2

    def start_workload(self, interface: str, chain: str) -> int:
        with self.lock:
            self.dispatch[interface] = chain
        return 1

    def stop_workload(self, interface: str) -> int:
        with self.lock:
            return 1 if self.dispatch.pop(interface, None) is not None else 0

    def add_member(self, set_name_: str, address: str) -> int:
        with self.lock:
            before = len(self.members[set_name_])
            self.members[set_name_].add(address)
            return len(self.members[set_name_]) - before

    def remove_member(self, set_name_: str, address: str) -> int:
        with self.lock:
            if address in self.members[set_name_]:
                self.members[set_name_].discard(address)
                return 1
            return 0

    def collect(self) -> Collection:
        """The dumps as `iptables-save -c` and `ipset save` would print them now."""
        with self.lock:
            extra = []
            if self.change:
                port = 10000 + self.change % 50000
                extra.append(f"-A FORWARD -s 10.255.{self.change % 250}.1/32 -p tcp -m tcp "
                             f"--dport {port} -j ACCEPT\n")
            extra.extend(f"-A FORWARD -o {iface} -j {chain}\n"
                         for iface, chain in sorted(self.dispatch.items()))
            iptables = self.iptables.replace(ANCHOR, ANCHOR + "".join(extra), 1)
            adds = "".join(f"add {name} {address}\n"
                           for name, addresses in sorted(self.members.items())
                           for address in sorted(addresses))
        return Collection(dumps={"iptables-save": iptables, "ipset-save": self.ipset + adds},
                          collected_at=time.time())


def simulated_hosts(fleet: SeedFleet, use_sets: bool = True) -> list[SimulatedHost]:
    """Every host of the seed fleet with the tables the control plane renders for it."""
    hosts = []
    for name in fleet.hosts:
        rendered = fleet.render(name, use_sets)
        sets = frozenset(line.split()[1] for line in rendered.ipset.splitlines()
                         if line.startswith("create "))
        segments = tuple(sorted({int(fleet.segment_of[w.name][3:]) for w in fleet.by_host[name]}))
        hosts.append(SimulatedHost(name, rendered.iptables, rendered.ipset, segments, sets))
    return hosts


@dataclass
class Latencies:
    """Seconds each delivered request took, per kind, and the requests that were not
    delivered at the first attempt."""

    seconds: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    failures: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, kind: str, seconds: float, delivered: bool) -> None:
        with self.lock:
            if delivered:
                self.seconds[kind].append(seconds)
            else:
                self.failures[kind] += 1

    def take(self) -> tuple[dict[str, list[float]], dict[str, int]]:
        """What was recorded since the last take."""
        with self.lock:
            seconds, failures = dict(self.seconds), dict(self.failures)
            self.seconds, self.failures = defaultdict(list), defaultdict(int)
        return seconds, failures


class TimedTransport:
    """The agent's HttpTransport, with each request's latency recorded."""

    def __init__(self, inner: HttpTransport, latencies: Latencies) -> None:
        self.inner = inner
        self.latencies = latencies

    def send(self, request: Request) -> Outcome:
        started = time.perf_counter()
        outcome = self.inner.send(request)
        self.latencies.record(request.kind, time.perf_counter() - started,
                              outcome.result == DELIVERED)
        return outcome


@dataclass
class Sent:
    """What the simulated agents sent, to count the server's rows against."""

    rounds: int = 0
    snapshots_changed: int = 0  # rounds whose rules differed from the round before
    flow_lines: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


class FlowWriter:
    """A host's flow log (AWS VPC v2 lines, no header): records between its workloads'
    segments and others, appended each round for the agent to follow."""

    def __init__(self, path: Path, host: SimulatedHost, segments: int, seed: int) -> None:
        self.path = path
        self.host = host
        self.segments = segments
        self.rng = random.Random(seed)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()

    def write(self, lines: int, now: float) -> int:
        rng, out = self.rng, []
        t = int(now)
        for _ in range(lines):
            dst = workload_address(rng.choice(self.host.segments), rng.randrange(20))
            src = workload_address(rng.randrange(self.segments), rng.randrange(20))
            action = "ACCEPT" if rng.random() < 0.9 else "REJECT"
            out.append(f"2 123456789010 eni-0a1b2c3d {src} {dst} {rng.randrange(32768, 61000)} "
                       f"{rng.choice(FLOW_PORTS)} 6 {rng.randrange(1, 40)} "
                       f"{rng.randrange(60, 40000)} {t - 10} {t} {action} OK\n")
        with open(self.path, "a", encoding="ascii") as handle:
            handle.write("".join(out))
        return lines


class SimulatedAgent:
    """A simulated host's real agent: collects from the simulation, sends over HTTP."""

    def __init__(self, host: SimulatedHost, server: str, token: str, workdir: Path,
                 latencies: Latencies, flows: FlowWriter | None) -> None:
        self.host = host
        self.flows = flows
        spool = workdir / host.name
        sources = (FlowSource("aws_vpc", str(flows.path)),) if flows is not None else ()
        config = AgentConfig(host=host.name, spool_dir=spool, flow_sources=sources,
                             interval=10.0)
        self.agent = Agent(config, TimedTransport(HttpTransport(server, token, timeout=120.0),
                                                  latencies), collect=host.collect)

    def round(self, flow_lines: int, sent: Sent) -> None:
        """One agent round; first the round's flow records go to the log it follows."""
        if self.flows is not None and flow_lines:
            self.flows.write(flow_lines, time.time())
        self.agent.run_round()
        with sent.lock:
            sent.rounds += 1
            sent.flow_lines += flow_lines


@dataclass
class Schedule:
    """Rounds every `interval` seconds per agent, agents spread evenly over the interval;
    how late rounds started against that schedule (rounds that cannot keep up show here)."""

    interval: float
    lateness: list[float] = field(default_factory=list)


async def drive(agents: list[SimulatedAgent], pool: ThreadPoolExecutor, schedule: Schedule,
                rounds: int | None, until: float | None, flow_lines: Callable[[], int],
                before_round: Callable[[int], None], sent: Sent) -> None:
    """Run every agent's rounds, staggered, for `rounds` rounds each or until the monotonic
    time `until`. `before_round(i)` runs in the event loop before agent i's round (rule
    changes); `flow_lines()` says how many records the round appends to the agent's log."""
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.5
    step = schedule.interval / max(1, len(agents))

    async def one(index: int, agent: SimulatedAgent) -> None:
        due = start + index * step
        done = 0
        while (rounds is None or done < rounds) and (
                until is None or (due < until and loop.time() < until)):
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)  # the agent's own interval, not a synchronisation
            # Behind schedule: rounds then run back to back, and the lateness grows.
            schedule.lateness.append(max(0.0, -delay))
            before_round(index)
            await loop.run_in_executor(pool, agent.round, flow_lines(), sent)
            done += 1
            due += schedule.interval

    await asyncio.gather(*(one(i, a) for i, a in enumerate(agents)))


def rule_changes(hosts: list[SimulatedHost], share: float,
                 seed: int) -> tuple[Callable[[int], None], list[int]]:
    """A before_round hook that changes the rules of `share` of the rounds' hosts; the list
    counts changes made."""
    rng = random.Random(seed)
    made = [0]

    def hook(index: int) -> None:
        if rng.random() < share:
            hosts[index].change_rules()
            made[0] += 1

    return hook, made


@dataclass
class Churn:
    """Short-lived workloads starting and stopping: the new workload's dispatch rule on its
    host and its address in the sets of every host that lets its segment in."""

    fleet: SeedFleet
    hosts: dict[str, SimulatedHost]
    holders: dict[str, list[SimulatedHost]]  # segment -> hosts holding its set
    rng: random.Random
    running: list[tuple[str, str, str, str, float]] = field(default_factory=list)
    changes: int = 0
    next_member: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, fleet: SeedFleet, hosts: Iterable[SimulatedHost], seed: int) -> Churn:
        by_name = {h.name: h for h in hosts}
        holders: dict[str, list[SimulatedHost]] = defaultdict(list)
        for segment in fleet.by_segment:
            name = set_name(segment)
            holders[segment] = [h for h in by_name.values() if name in h.sets]
        return cls(fleet, by_name, holders, random.Random(seed))

    @property
    def changes_per_event(self) -> float:
        """Mean rule and set member changes a start (or a stop) makes."""
        sizes = [len(h) + 1 for h in self.holders.values()]
        return sum(sizes) / max(1, len(sizes))

    def start_one(self, now: float) -> tuple[str, str, str, str]:
        """Start a workload of a random segment beside an existing member; (name, host,
        address, interface)."""
        taken = {r[2] for r in self.running}
        while True:
            segment = self.rng.choice(list(self.fleet.by_segment))
            member = self.next_member.get(segment, self.fleet.scale.members)
            if member > 255:
                member = self.fleet.scale.members
            self.next_member[segment] = member + 1
            address = workload_address(int(segment[3:]), member)
            if address not in taken:
                break
        mate = self.fleet.by_segment[segment][0]
        interface = f"cali{self.rng.getrandbits(44):011x}"
        name = f"{segment}-churn-{member:03d}"
        host = self.hosts[mate.host]
        self.changes += host.start_workload(interface, chain_name(mate))
        for holder in self.holders[segment]:
            self.changes += holder.add_member(set_name(segment), address)
        self.running.append((name, mate.host, address, interface, now))
        return name, mate.host, address, interface

    def stop_oldest(self, now: float) -> tuple[str, str, str, str, float] | None:
        """Stop the longest-running churned workload; its row (with its start time)."""
        if not self.running:
            return None
        name, host, address, interface, started = self.running.pop(0)
        segment = name.split("-churn-")[0]
        self.changes += self.hosts[host].stop_workload(interface)
        for holder in self.holders[segment]:
            self.changes += holder.remove_member(set_name(segment), address)
        return name, host, address, interface, started
