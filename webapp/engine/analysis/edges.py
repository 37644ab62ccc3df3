"""The graph as `segscope graph --json` prints it: workload edges, or segment edges with counts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from webapp.engine.analysis.fleet import Workload
from webapp.engine.analysis.graph import EffectiveGraph, PairVerdict
from webapp.engine.analysis.intended import memberships
from webapp.engine.analysis.ports import PortSet
from webapp.engine.analysis.verdicts import Evidence


def merged_evidence(items: Iterable[tuple[Evidence, PortSet]]
                    ) -> list[tuple[Evidence, PortSet]]:
    """One entry per deciding rule with the ports it decided merged, in an edge's order."""
    merged: dict[Evidence, PortSet] = {}
    for evidence, ports in items:
        known = merged.get(evidence)
        merged[evidence] = ports if known is None else known | ports
    return sorted(merged.items(), key=lambda item: evidence_order(item[0]))


def evidence_dicts(items: Iterable[tuple[Evidence, PortSet]]) -> list[dict[str, Any]]:
    """Evidence entries, one per deciding rule, with the ports it decided merged."""
    return [e.to_dict(p) for e, p in merged_evidence(items)]


def evidence_order(evidence: Evidence) -> tuple[Any, ...]:
    """Where an evidence entry goes in an edge's list."""
    return (evidence.host, evidence.hook, evidence.table, evidence.chain,
            evidence.rule_number or 0, evidence.handle or 0)


def workload_edge(pair: PairVerdict) -> dict[str, Any]:
    return {"src": pair.src, "dst": pair.dst, "allowed": pair.allowed.texts(),
            "evidence": evidence_dicts(pair.evidence())}


def workload_edges(graph: EffectiveGraph) -> list[dict[str, Any]]:
    return [workload_edge(pair) for pair in graph.edges()]


def port_counts(sets: Iterable[PortSet]) -> list[tuple[PortSet, int]]:
    """Split the union of port sets into pieces, each with how many of the sets contain it."""
    return weighted_port_counts((ports, 1) for ports in sets)


def weighted_port_counts(items: Iterable[tuple[PortSet, int]]) -> list[tuple[PortSet, int]]:
    """`port_counts` where each set stands for `weight` sets (pieces of several segment edges,
    or one allowed set shared by many pairs)."""
    events: dict[str, dict[int, int]] = {}
    for ports, weight in items:
        for proto, spans in ports.ranges:
            points = events.setdefault(proto, {})
            for low, high in spans:
                points[low] = points.get(low, 0) + weight
                points[high + 1] = points.get(high + 1, 0) - weight
    out: list[tuple[PortSet, int]] = []
    for proto in sorted(events):
        active, start = 0, None
        pieces: list[tuple[int, int, int]] = []
        for point in sorted(events[proto]):
            if active and start is not None and point > start:
                pieces.append((start, point - 1, active))
            active += events[proto][point]
            start = point
        for low, high, count in _merge_equal(pieces):
            out.append((PortSet.of({proto: [(low, high)]}), count))
    return out


def _merge_equal(pieces: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    out: list[tuple[int, int, int]] = []
    for low, high, count in pieces:
        if out and out[-1][2] == count and out[-1][1] + 1 == low:
            out[-1] = (out[-1][0], high, count)
        else:
            out.append((low, high, count))
    return out


def segment_edges(graph: EffectiveGraph,
                  selectors: Mapping[str, Mapping[str, str]]) -> list[dict[str, Any]]:
    """Segment pairs with something allowed: `pairs` (workload pairs in all) and, per port,
    `pairs_allowed`; `status` full when every pair is allowed every listed port."""
    return segment_edges_of(workload_edges(graph), selectors, graph.workloads.values())


def segment_edges_of(edges: Iterable[Mapping[str, Any]],
                     selectors: Mapping[str, Mapping[str, str]],
                     workloads: Iterable[Workload]) -> list[dict[str, Any]]:
    """Segment edges from workload edges as `workload_edges` gives them (stored ones too)."""
    members = memberships(selectors, workloads)
    of: dict[str, list[str]] = {}
    for segment, names in members.items():
        for name in names:
            of.setdefault(name, []).append(segment)
    grouped: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for edge in sorted(edges, key=lambda e: (e["src"], e["dst"])):
        for src_segment in of.get(edge["src"], ()):
            for dst_segment in of.get(edge["dst"], ()):
                grouped.setdefault((src_segment, dst_segment), []).append(edge)
    counts: dict[tuple[str, str], dict[tuple[str, ...], int]] = {}
    for pair, pairs in grouped.items():
        by_allowed = counts[pair] = {}
        for e in pairs:
            by_allowed[tuple(e["allowed"])] = by_allowed.get(tuple(e["allowed"]), 0) + 1
    out = segment_edges_counted(counts, members)
    for entry in out:
        entry["evidence"] = merge_evidence(
            item for e in grouped[(entry["src"], entry["dst"])] for item in e["evidence"])
    return out


def segment_edges_counted(counts: Mapping[tuple[str, str], Mapping[tuple[str, ...], int]],
                          members: Mapping[str, list[str]]) -> list[dict[str, Any]]:
    """`segment_edges_of` without the evidence, from the number of workload pairs of each
    segment pair per allowed port list (what a database can count without reading the
    pairs into memory)."""
    out = []
    for (src_segment, dst_segment), by_allowed in sorted(counts.items()):
        sources, destinations = members[src_segment], members[dst_segment]
        total = len(sources) * len(destinations) - len(set(sources) & set(destinations))
        if len(by_allowed) == 1:
            # Every pair allowed the same: its texts are the pieces (texts as PortSet.texts
            # writes them are disjoint and merged).
            [(allowed, n)] = by_allowed.items()
            texts, per_port = list(allowed), dict.fromkeys(allowed, n)
        else:
            pieces = weighted_port_counts((PortSet.parse(allowed), n)
                                          for allowed, n in by_allowed.items())
            allowed_set = PortSet()
            for ports, _ in pieces:
                allowed_set = allowed_set | ports
            texts, per_port = allowed_set.texts(), {ports.texts()[0]: count
                                                    for ports, count in pieces}
        out.append({
            "src": src_segment, "dst": dst_segment, "allowed": texts,
            "pairs": total, "pairs_allowed": per_port,
            "status": "full" if all(n == total for n in per_port.values()) else "partial",
        })
    return out


def merge_evidence(entries: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Evidence entries (`evidence_dicts` form) of several edges, one per deciding rule with
    the ports it decided merged, in `evidence_dicts` order."""
    merged: dict[tuple[tuple[str, Any], ...], tuple[dict[str, Any], PortSet]] = {}
    for entry in entries:
        rule = {k: v for k, v in entry.items() if k != "ports"}
        key = tuple(sorted(rule.items()))
        ports = PortSet.parse(entry.get("ports", ()))
        known = merged.get(key)
        merged[key] = (rule, ports if known is None else known[1] | ports)
    ordered = sorted(merged.values(), key=lambda item: (
        item[0]["host"], item[0]["hook"], item[0]["table"], item[0]["chain"],
        item[0].get("rule_number") or 0, item[0].get("handle") or 0))
    return [{**rule, "ports": ports.texts()} for rule, ports in ordered]
