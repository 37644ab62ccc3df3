"""Real TCP connections between lab workloads, allowed and blocked, and what became of them.

A round starts a listener in every destination workload (on the ports it is tried on), waits
until each says it is ready, then runs one connector per source workload that opens all of its
connections at once; a connection whose SYN gets no answer within the timeout was dropped. Which
pairs are tried is planned from the intent: for each destination, the ports intended into it
plus one port no allow names, from one workload of each label mix.
"""

from __future__ import annotations

import ipaddress
import json
import select
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from collectors.intent import Intent, Peer, selector_matches
from collectors.lab import endpoints
from collectors.lab.fleet import FleetPlan, LabWorkload
from collectors.lab.netns import LabError

UNLISTED_PORT = 9999  # a port no demo allow names: always blocked
READY_TIMEOUT = 15.0
LISTEN_SECONDS = 300.0  # bound on a listener's life, should its parent vanish
DEFAULT_TIMEOUT = 2.0


@dataclass(frozen=True, slots=True)
class Attempt:
    """A connection to try: from one workload to another's TCP port."""

    src: str
    dst: str
    dport: int


@dataclass(frozen=True, slots=True)
class Connection:
    """A connection tried: its addresses and ports, how it ended, and what the rules loaded on
    the destination host (`allowed`) and the newest intent (`intended`) say of it."""

    round: int
    src: str
    src_address: str
    sport: int
    dst: str
    dst_address: str
    dport: int
    result: str
    allowed: bool
    intended: bool

    @property
    def blocked(self) -> bool:
        """No answer to the SYN: a firewall dropped it."""
        return self.result == "timeout"

    @property
    def as_expected(self) -> bool:
        return (self.result == "connected") == self.allowed and self.result in (
            "connected", "timeout")

    @property
    def straggler(self) -> bool:
        """Intended, but the destination host has not loaded the allow yet."""
        return self.intended and not self.allowed

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    def __str__(self) -> str:
        note = "" if self.as_expected else "  UNEXPECTED"
        if self.straggler:
            note += "  (intended; host not converged)"
        return (f"{self.src} {self.src_address}:{self.sport} -> {self.dst} "
                f"{self.dst_address}:{self.dport}  {self.result}{note}")


def _peer_matches(peer: Peer, intent: Intent, workload: LabWorkload) -> bool:
    if peer.segment is not None:
        return selector_matches(intent.segments[peer.segment], workload.labels)
    assert peer.cidr is not None
    return ipaddress.ip_address(workload.address) in ipaddress.ip_network(peer.cidr)


def intent_allows(intent: Intent, src: LabWorkload, dst: LabWorkload, proto: str,
                  port: int) -> bool:
    """True when an allow of `intent` covers this connection (default deny)."""
    return any(
        _peer_matches(allow.source, intent, src) and _peer_matches(allow.destination, intent, dst)
        and any(p.proto == proto and p.low <= port <= p.high for p in allow.ports)
        for allow in intent.allows)


def intended_ports(intent: Intent, dst: LabWorkload) -> list[int]:
    """The first TCP port of every allow into `dst`."""
    return sorted({p.low for a in intent.allows if _peer_matches(a.destination, intent, dst)
                   for p in a.ports if p.proto == "tcp"})


def plan_attempts(plan: FleetPlan, intent: Intent, round_index: int = 0,
                  unlisted_port: int = UNLISTED_PORT) -> list[Attempt]:
    """For each destination workload and each port intended into it plus `unlisted_port`, one
    source of each label mix (rotating with the round, never the destination itself)."""
    mixes: dict[tuple[tuple[str, str], ...], list[LabWorkload]] = {}
    for workload in plan.workloads:
        mixes.setdefault(tuple(sorted(workload.labels.items())), []).append(workload)
    attempts: list[Attempt] = []
    for d, dst in enumerate(plan.workloads):
        ports = [*intended_ports(intent, dst), unlisted_port]
        for members in mixes.values():
            candidates = [w for w in members if w.name != dst.name]
            if not candidates:
                continue
            src = candidates[(round_index + d) % len(candidates)]
            attempts.extend(Attempt(src.name, dst.name, port) for port in dict.fromkeys(ports))
    return attempts


def _endpoint(netns: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        ["ip", "netns", "exec", netns, sys.executable, "-P", "-u", endpoints.__file__, *args],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_ready(listeners: Mapping[str, subprocess.Popen[str]]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    waiting = dict(listeners)
    while waiting:
        streams = {p.stdout: name for name, p in waiting.items() if p.stdout is not None}
        readable, _, _ = select.select(list(streams), [], [], max(0.0, deadline -
                                                                  time.monotonic()))
        if not readable:
            raise LabError(f"listeners not ready within {READY_TIMEOUT:g}s: "
                           f"{', '.join(sorted(waiting))}")
        for stream in readable:
            name = streams[stream]
            line = stream.readline().strip()
            if line != "ready":
                process = waiting[name]
                process.kill()
                error = process.communicate()[1].strip()
                raise LabError(f"listener in {name} failed: {line or error}")
            del waiting[name]


def _stop(processes: Iterable[subprocess.Popen[str]]) -> None:
    """Kill whatever still runs and reap it."""
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.wait()
        for stream in (process.stdin, process.stdout, process.stderr):
            if stream is not None and not stream.closed:
                stream.close()


def run_round(plan: FleetPlan, attempts: Sequence[Attempt],
              loaded: Mapping[str, Intent | None], intended: Intent, round_index: int = 0,
              timeout: float = DEFAULT_TIMEOUT) -> list[Connection]:
    """Make every attempt once, all at the same time; `loaded` is each host's intent (None:
    the host has no rules yet and forwards everything)."""
    by_name = {w.name: w for w in plan.workloads}
    ports: dict[str, set[int]] = {}
    targets: dict[str, list[Attempt]] = {}
    for attempt in attempts:
        ports.setdefault(attempt.dst, set()).add(attempt.dport)
        targets.setdefault(attempt.src, []).append(attempt)
    listeners: dict[str, subprocess.Popen[str]] = {}
    connectors: dict[str, subprocess.Popen[str]] = {}
    try:
        for name, wanted in ports.items():
            listeners[name] = _endpoint(by_name[name].netns, "listen",
                                        ",".join(map(str, sorted(wanted))), "--for",
                                        str(LISTEN_SECONDS))
        _wait_ready(listeners)
        for name in targets:
            connectors[name] = _endpoint(by_name[name].netns, "connect", "--timeout",
                                         str(timeout))
        for name, process in connectors.items():
            # All targets first, so that every connector is connecting at the same time.
            assert process.stdin is not None
            process.stdin.write(json.dumps([[by_name[a.dst].address, a.dport]
                                            for a in targets[name]]))
            process.stdin.close()
            process.stdin = None  # communicate() below must not flush it again
        answers: dict[str, list[dict[str, object]]] = {}
        for name, process in connectors.items():
            out, err = process.communicate(timeout=timeout + READY_TIMEOUT)
            if process.returncode != 0:
                raise LabError(f"connector in {name} failed: {err.strip()}")
            answers[name] = json.loads(out)
        for process in listeners.values():
            process.communicate("", timeout=READY_TIMEOUT)  # EOF on stdin ends the accept loop
    finally:
        _stop([*connectors.values(), *listeners.values()])
    connections = []
    for name, answer in answers.items():
        src = by_name[name]
        for attempt, outcome in zip(targets[name], answer, strict=True):
            dst = by_name[attempt.dst]
            held = loaded[dst.host]
            connections.append(Connection(
                round_index, src.name, src.address, int(str(outcome["sport"])), dst.name,
                dst.address, attempt.dport, str(outcome["result"]),
                held is None or intent_allows(held, src, dst, "tcp", attempt.dport),
                intent_allows(intended, src, dst, "tcp", attempt.dport)))
    return connections


def summary_lines(connections: Sequence[Connection]) -> list[str]:
    """A report: every connection, then counts."""
    lines = [str(c) for c in connections]
    connected = sum(c.result == "connected" for c in connections)
    blocked = sum(c.blocked for c in connections)
    stragglers = sum(c.straggler and c.blocked for c in connections)
    unexpected = sum(not c.as_expected for c in connections)
    lines.append(f"{len(connections)} connections: {connected} connected, {blocked} blocked "
                 f"({stragglers} by hosts that have not converged), {unexpected} unexpected")
    return lines


def write_report(path: Path, connections: Sequence[Connection]) -> None:
    """The connections as JSON lines (appended: one file holds every round)."""
    with open(path, "a", encoding="utf-8") as handle:
        for connection in connections:
            handle.write(json.dumps(connection.to_dict()) + "\n")
