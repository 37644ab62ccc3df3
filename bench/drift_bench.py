"""Drift at seed scale: the whole fleet's findings, then one host's (what a host's partition of
the stored analysis needs), on a fleet with drift planted: a quarter of the hosts rendered from an
older intent, an admin's rule on some hosts, workloads gone and one address reused.

`python -m bench.drift_bench --hosts 200 --segments 200` prints one JSON line."""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections import Counter
from dataclasses import replace
from datetime import timedelta
from typing import Any

from bench.seed import COLLECTED_AT, SEED, SeedScale, seed_fleet, with_port
from webapp.engine.analysis.drift import DriftContext, compute_drift
from webapp.engine.analysis.fleet import Fleet
from webapp.engine.analysis.graph import EffectiveGraph, compute_graph
from webapp.engine.analysis.intended import intended_pairs
from webapp.engine.analysis.managed import ControlPlaneRules


def _stage(text: str) -> None:
    print(f"drift  {text}", file=sys.stderr, flush=True)


def drifted_fleet(scale: SeedScale) -> tuple[Fleet, Any, tuple[Any, ...]]:
    """The seed fleet with drift planted; returns the fleet, its intent, former workloads."""
    seed = seed_fleet(scale)
    rng = random.Random(7)
    older = seed.intent
    for index in rng.sample(range(len(older.allows)), max(1, len(older.allows) // 20)):
        older = with_port(older, index, 20000 + index)
    workloads = seed.analysis_workloads()
    states = {}
    for number, host in enumerate(seed.hosts):
        rules = seed.render(host, number % 2 == 0, older if number % 4 == 1 else None)
        text = rules.iptables
        if number % 10 == 3:  # an admin lets one workload in on ssh, twice
            admin = (f"-A FORWARD -s {rng.choice(workloads).addresses[0]}/32 -p tcp -m tcp "
                     "--dport 22 -j ACCEPT\n")
            text = text.replace("-A FORWARD -m conntrack", f"{admin}{admin}-A FORWARD -m "
                                "conntrack", 1)
        states[host] = seed.host_state(host, replace(rules, iptables=text))
    gone = set(rng.sample(range(len(workloads)), max(2, len(workloads) // 200)))
    live = tuple(w for i, w in enumerate(workloads) if i not in gone)
    former = tuple(replace(workloads[i], stopped_at=COLLECTED_AT - timedelta(hours=1))
                   for i in sorted(gone))
    reused = replace(live[0], name="old-0", labels={"segment": "elsewhere"},
                     stopped_at=COLLECTED_AT - timedelta(hours=2))
    return Fleet(states, live), seed.intent, (*former, reused)


def context_of(graph: EffectiveGraph, intent: Any, former: tuple[Any, ...]) -> DriftContext:
    """As BundleAnalysis builds it, with flows seen on a sample of the allowed pairs."""
    rng = random.Random(11)
    fleet = graph.fleet
    pairs = sorted(graph.pairs)
    observed = [(src, dst, "tcp", 443) for src, dst in rng.sample(pairs, min(5000, len(pairs)))]
    return DriftContext(dict(intent.segments), intended_pairs(intent, fleet.workloads),
                        intent_since=COLLECTED_AT, former_workloads=former,
                        host_since=lambda host: COLLECTED_AT,
                        managed_rules=ControlPlaneRules(intent, fleet),
                        counters_then=lambda host, rule: rule.packets,
                        window_start=lambda host: COLLECTED_AT - timedelta(hours=1),
                        observed=observed)


def measure(scale: SeedScale, hosts: int) -> dict[str, Any]:
    """Every figure, in this process."""
    start = time.perf_counter()
    fleet, intent, former = drifted_fleet(scale)
    _stage(f"{scale}: rendered and loaded in {time.perf_counter() - start:.1f} s")
    start = time.perf_counter()
    graph = compute_graph(fleet)
    graph_s = time.perf_counter() - start
    _stage(f"graph in {graph_s:.1f} s, {len(graph.pairs):,} pairs")

    start = time.perf_counter()
    findings = compute_drift(graph, context_of(graph, intent, former))
    full_s = time.perf_counter() - start
    _stage(f"full drift in {full_s:.1f} s, {len(findings):,} findings")

    # One host at a time on a fresh context: the first call builds the context's indexes.
    context = context_of(graph, intent, former)
    chosen = random.Random(3).sample(sorted(fleet.hosts), min(hosts, len(fleet.hosts)))
    times = []
    for host in chosen:
        start = time.perf_counter()
        mine = compute_drift(graph, context, hosts={host})
        times.append(time.perf_counter() - start)
        if mine != [f for f in findings if f.host == host]:
            raise SystemExit(f"bench: drift of {host} differs from the fleet's")
    _stage(f"one host: first {times[0] * 1000:.0f} ms, then median "
           f"{statistics.median(times[1:]) * 1000:.0f} ms")
    return {"hosts": scale.hosts, "workloads": len(fleet.workloads),
            "pairs": len(graph.pairs), "graph_s": round(graph_s, 1),
            "findings": dict(Counter(f.kind for f in findings)),
            "full_drift_s": round(full_s, 2),
            "one_host_first_ms": round(times[0] * 1000),
            "one_host_median_ms": round(statistics.median(times[1:]) * 1000, 1),
            "one_host_max_ms": round(max(times[1:]) * 1000, 1),
            "one_host_calls": len(times)}


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.drift_bench")
    parser.add_argument("--hosts", type=int, default=SEED.hosts)
    parser.add_argument("--segments", type=int, default=SEED.segments)
    parser.add_argument("--members", type=int, default=SEED.members)
    parser.add_argument("--peers", type=int, default=SEED.peers)
    parser.add_argument("--one-host-calls", type=int, default=21)
    args = parser.parse_args()
    scale = SeedScale(args.hosts, args.segments, args.members, args.peers)
    print(json.dumps(measure(scale, max(2, args.one_host_calls))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
