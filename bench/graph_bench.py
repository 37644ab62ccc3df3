"""The effective graph at seed scale, ipset style and one-rule-per-peer style, against evaluating
every (source, destination, port) packet by packet with the same kernel-exact engine.

Each style runs in a fresh process (`python -m bench.graph_bench --style sets|peers`) so that
its peak memory is its own: generated tables, the loaded fleet and the graph."""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.seed import QUICK, SEED, SeedScale, seed_fleet, with_port
from collectors.iptables import clear_caches
from webapp.engine.analysis.fleet import Fleet, Workload
from webapp.engine.analysis.graph import EffectiveGraph, compute_graph
from webapp.engine.packet import Packet

STYLES = {"sets": True, "peers": False}
REPO_ROOT = Path(__file__).resolve().parents[1]
MIB = 1024 * 1024


def _rss() -> int:
    """Resident bytes now."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


def _peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def _packet_by_packet(fleet: Fleet, by_name: dict[str, Workload], src: str, dst: str,
                      port: int) -> bool:
    """One (source, destination, port): the source host's egress, then the destination host's
    FORWARD path, each asked with HostRules.explain for a NEW tcp connection."""
    source, destination = by_name[src], by_name[dst]
    src_ip, dst_ip = source.addresses[0], destination.addresses[0]
    src_host = fleet.hosts[source.host].rules
    dst_host = fleet.hosts[destination.host].rules
    assert src_host is not None and dst_host is not None
    in_iface = source.interface
    if source.host != destination.host:
        uplink = fleet.hosts[source.host].uplink
        out = src_host.explain(Packet(src_ip, dst_ip, "tcp", 40000, port, in_iface=in_iface,
                                      out_iface=uplink), "FORWARD", trace=False)
        if out.verdict != "ACCEPT":
            return False
        in_iface = fleet.hosts[destination.host].uplink
    into = dst_host.explain(Packet(src_ip, dst_ip, "tcp", 40000, port, in_iface=in_iface,
                                   out_iface=destination.interface), "FORWARD", trace=False)
    return into.verdict == "ACCEPT"


def _graph_says(graph: EffectiveGraph, src: str, dst: str, port: int) -> bool:
    pair = graph.pairs.get((src, dst))
    return pair is not None and pair.allowed.contains("tcp", port)


def _stage(text: str) -> None:
    # Progress on stderr: a run that runs out of time or memory still says how far it got.
    print(f"graph  {text}; RSS {_rss() // MIB:,} MiB", file=sys.stderr, flush=True)


def measure(scale: SeedScale, use_sets: bool, samples: int, updates: int) -> dict[str, Any]:
    """Every figure of one style, in this process."""
    started = time.perf_counter()
    seed = seed_fleet(scale)
    rendered = {h: seed.render(h, use_sets) for h in seed.hosts}
    render_s = time.perf_counter() - started
    rules = sum(r.iptables.count("\n-A ") for r in rendered.values())
    set_members = sum(r.ipset.count("\nadd ") + r.ipset.startswith("add ")
                      for r in rendered.values())

    _stage(f"{scale}, {'ipset' if use_sets else 'per-peer'}: {rules:,} rules rendered in "
           f"{render_s:.1f} s")
    clear_caches()  # every rule parsed as new, as a host's first snapshot is
    start = time.perf_counter()
    workloads = seed.analysis_workloads()
    fleet = Fleet({h: seed.host_state(h, rendered[h]) for h in seed.hosts}, workloads)
    load_s = time.perf_counter() - start
    del rendered
    _stage(f"loaded and compiled in {load_s:.1f} s")

    rss_before = _rss()
    start = time.perf_counter()
    graph = compute_graph(fleet)
    graph_s = time.perf_counter() - start
    peak = _peak_rss()
    _stage(f"full graph in {graph_s:.1f} s, {len(graph.pairs):,} pairs, peak RSS "
           f"{peak // MIB:,} MiB")

    # Packet by packet: a uniform sample of (source, destination, port), timed, extrapolated.
    rng = random.Random(3)
    names = [w.name for w in workloads]
    by_name = {w.name: w for w in workloads}
    ports = seed.ports
    triples: list[tuple[str, str, int]] = []
    while len(triples) < samples:
        src, dst = rng.choice(names), rng.choice(names)
        if src != dst:
            triples.append((src, dst, rng.choice(ports)))
    start = time.perf_counter()
    answers = [_packet_by_packet(fleet, by_name, *t) for t in triples]
    sample_s = time.perf_counter() - start
    full_count = len(names) * (len(names) - 1) * len(ports)
    baseline_s = sample_s / samples * full_count
    # The same answers from the graph; then allowed pairs, which a uniform sample rarely hits.
    disagree = sum(a != _graph_says(graph, *t) for t, a in zip(triples, answers, strict=True))
    allowed = sorted(graph.pairs)
    for src, dst in rng.sample(allowed, min(len(allowed), samples // 4)):
        for port in ports:
            disagree += _packet_by_packet(fleet, by_name, src, dst, port) != _graph_says(
                graph, src, dst, port)

    _stage(f"packet by packet: {sample_s / samples * 1e6:.1f} us a triple")
    # One host's new snapshot: one allow into a segment on it moved to another port.
    update_ms, load_update_ms, touched = [], [], []
    intent = seed.intent
    for i, host in enumerate(rng.sample(seed.hosts, updates)):
        target = seed.segment_of[seed.by_host[host][0].name]
        index = next(n for n, a in enumerate(intent.allows)
                     if a.destination.segment == target)
        port = 20000 + i
        intent = with_port(intent, index, port)
        start = time.perf_counter()
        state = seed.host_state(host, seed.render(host, use_sets, intent))
        loaded = time.perf_counter()
        changed = graph.update_host(state)
        done = time.perf_counter()
        update_ms.append((done - loaded) * 1000)
        load_update_ms.append((done - start) * 1000)
        touched.append(len(changed))
        source = intent.allows[index].source.segment
        assert source is not None
        member = next(w.name for w in seed.by_segment[source])
        if member != seed.by_host[host][0].name and not _graph_says(
                graph, member, seed.by_host[host][0].name, port):
            raise SystemExit(f"bench: the update on {host} did not open tcp/{port}")

    return {
        "style": "ipset" if use_sets else "per-peer",
        "hosts": scale.hosts, "workloads": len(workloads), "rules": rules,
        "set_members": set_members,
        "generate_s": round(render_s, 2),
        "load_compile_s": round(load_s, 2),
        "graph_s": round(graph_s, 2),
        "pairs": len(graph.pairs),
        "evaluations": graph.evaluations,
        "rss_before_graph_mib": round(rss_before / MIB),
        "peak_rss_mib": round(peak / MIB),
        "graph_rss_mib": round(max(0, peak - rss_before) / MIB),
        "update_ms_median": round(statistics.median(update_ms), 1),
        "update_ms_max": round(max(update_ms), 1),
        "load_and_update_ms_median": round(statistics.median(load_update_ms), 1),
        "update_touched_pairs_median": statistics.median(touched),
        "baseline_samples": samples,
        "baseline_us_per_triple": round(sample_s / samples * 1e6, 1),
        "baseline_triples": full_count,
        "baseline_s": round(baseline_s),
        "ratio": round(baseline_s / graph_s, 1),
        "disagreements": disagree,
    }


def _print(row: dict[str, Any]) -> None:
    print(f"graph  {row['style']:8} {row['hosts']:,} hosts, {row['workloads']:,} workloads, "
          f"{row['rules']:,} rules ({row['set_members']:,} set members): generate "
          f"{row['generate_s']} s, load+compile {row['load_compile_s']} s; full graph "
          f"{row['graph_s']} s ({row['pairs']:,} pairs, {row['evaluations']:,} evaluations), "
          f"peak RSS {row['peak_rss_mib']:,} MiB ({row['graph_rss_mib']:,} MiB over the loaded "
          f"fleet); one-host update {row['update_ms_median']} ms median "
          f"({row['load_and_update_ms_median']} ms with parse+compile, "
          f"{row['update_touched_pairs_median']:,} pairs); packet by packet "
          f"{row['baseline_us_per_triple']:,} us x {row['baseline_triples']:,} (src, dst, port) "
          f"= {row['baseline_s']:,} s; ratio {row['ratio']:,}x; "
          f"{row['disagreements']} disagreements")


def run(quick: bool = False, scale: SeedScale | None = None) -> list[dict[str, Any]]:
    """Both styles, each in its own process, one after the other."""
    scale = scale or (QUICK if quick else SEED)
    rows = []
    for style in STYLES:
        command = [sys.executable, "-m", "bench.graph_bench", "--style", style,
                   "--hosts", str(scale.hosts), "--segments", str(scale.segments),
                   "--members", str(scale.members), "--peers", str(scale.peers)]
        if quick:
            command.append("--quick")
        done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True,
                              check=False)
        if done.returncode != 0:
            raise SystemExit(f"bench: graph benchmark ({style}) failed:\n{done.stderr[-3000:]}")
        row = json.loads(done.stdout.splitlines()[-1])
        _print(row)
        rows.append(row)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.graph_bench")
    parser.add_argument("--style", choices=sorted(STYLES), help="measure one style, print JSON")
    parser.add_argument("--quick", action="store_true", help="fewer samples and updates")
    parser.add_argument("--hosts", type=int, default=SEED.hosts)
    parser.add_argument("--segments", type=int, default=SEED.segments)
    parser.add_argument("--members", type=int, default=SEED.members)
    parser.add_argument("--peers", type=int, default=SEED.peers)
    args = parser.parse_args()
    scale = SeedScale(args.hosts, args.segments, args.members, args.peers)
    if args.style is None:
        run(args.quick, scale)
        return 0
    row = measure(scale, STYLES[args.style], samples=400 if args.quick else 4000,
                  updates=3 if args.quick else 7)
    print(json.dumps(row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
