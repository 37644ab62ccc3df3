"""Segments drawn as groups when there are more than a page can draw: grouped by a label of
their selectors (`namespace`, `team`, ...) or by their name's prefix, with group edges that add
up the segment edges between their members, and positions that keep every segment next to its
group's place, so that opening a group moves nothing else."""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from webapp.engine.analysis.edges import weighted_port_counts
from webapp.engine.analysis.ports import PortSet

LIMIT = 1000
PREFIX = "prefix"
# A group edge takes the class that most needs attention among its segment edges.
CLASS_ORDER = ("missing", "excess", "intended")
_SEPARATOR = re.compile(r"[-_./:]")
_GOLDEN_ANGLE = math.pi * (3 - math.sqrt(5))


def grouping_keys(selectors: Mapping[str, Mapping[str, str]]) -> list[str]:
    """What segments can be grouped by: the name's prefix, or any label their selectors name."""
    return [PREFIX, *sorted({key for selector in selectors.values() for key in selector})]


def default_key(selectors: Mapping[str, Mapping[str, str]]) -> str:
    """`namespace` when some selector names one (Kubernetes), else the name's prefix."""
    return "namespace" if any("namespace" in s for s in selectors.values()) else PREFIX


def _base(name: str, selector: Mapping[str, str], key: str) -> str:
    if key == PREFIX:
        cuts = [m.start() for m in _SEPARATOR.finditer(name)]
        return name[:cuts[-1]] if cuts and cuts[-1] > 0 else name
    return selector.get(key, "")


def group_names(selectors: Mapping[str, Mapping[str, str]], key: str,
                limit: int = LIMIT) -> dict[str, str]:
    """Segment -> the name of its group: `team-a*` (prefix), `namespace=prod` or
    `namespace unset` (label). When that makes more than `limit` groups, the prefixes or
    label values are cut to the longest length that makes at most `limit`."""
    bases = {name: _base(name, selector, key) for name, selector in selectors.items()}
    cut: int | None = None
    if len(set(bases.values())) > limit:
        longest = max((len(b) for b in bases.values()), default=0)
        cut = next(n for n in range(longest, -1, -1)
                   if len({b[:n] for b in bases.values()}) <= limit)
    out = {}
    for name, base in bases.items():
        text = base if cut is None else base[:cut]
        truncated = cut is not None and len(base) > cut
        if key == PREFIX:
            out[name] = f"{text}*"
        elif base:
            out[name] = f"{key}={text}" + ("*" if truncated else "")
        else:
            out[name] = f"{key} unset"
    return out


def group_graph(nodes: Mapping[str, int], edges: Sequence[Mapping[str, Any]],
                groups: Mapping[str, str], open_groups: Collection[str] = ()
                ) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    """The nodes to draw (name -> `{"workloads", "group", "segments"}`) and their edges:
    segments of an open group, or alone in theirs, are drawn themselves; the others as their
    group. A group edge adds up its segment edges: `edges` and `classes` count them, `pairs`
    and `pairs_allowed` (per port) are sums, `class` the one needing most attention."""
    members: dict[str, list[str]] = {}
    for segment in sorted(nodes):
        members.setdefault(groups.get(segment, segment), []).append(segment)
    drawn_as: dict[str, str] = {}
    drawn: dict[str, dict[str, Any]] = {}
    for group, names in sorted(members.items()):
        if len(names) == 1 or group in open_groups:
            for name in names:
                drawn_as[name] = name
                drawn[name] = {"workloads": nodes[name], "group": None, "segments": 1}
            continue
        for name in names:
            drawn_as[name] = group
        drawn[group] = {"workloads": sum(nodes[n] for n in names), "group": group,
                        "segments": len(names)}
    out: list[dict[str, Any]] = []
    grouped: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for edge in edges:
        src, dst = drawn_as.get(edge["src"]), drawn_as.get(edge["dst"])
        if src is None or dst is None:
            continue
        if src == edge["src"] and dst == edge["dst"]:
            out.append(dict(edge))
        else:
            grouped.setdefault((src, dst), []).append(edge)
    out.extend(_group_edge(src, dst, parts) for (src, dst), parts in grouped.items())
    out.sort(key=lambda e: (e["src"], e["dst"]))
    return drawn, out


def _group_edge(src: str, dst: str, parts: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    classes = {kind: sum(1 for e in parts if e["class"] == kind) for kind in CLASS_ORDER}
    texts = {field: _union(tuple(e[field]) for e in parts)
             for field in ("allowed", "intended", "missing_ports", "excess_ports")}
    per_port: dict[str, int] = {}
    for part in parts:
        for port, n in part["pairs_allowed"].items():
            per_port[port] = per_port.get(port, 0) + n
    if len(per_port) > 1:
        # Ranges of different segment edges may overlap: split them where they do.
        per_port = {ports.texts()[0]: n for ports, n in weighted_port_counts(
            (PortSet.parse([port]), n) for port, n in per_port.items())}
    statuses = {e["status"] for e in parts}
    return {
        "src": src, "dst": dst, "group": True,
        "class": next(kind for kind in CLASS_ORDER if classes[kind]),
        "classes": {kind: n for kind, n in classes.items() if n}, "edges": len(parts),
        **texts, "status": statuses.pop() if len(statuses) == 1 else "partial",
        "pairs": sum(e["pairs"] or 0 for e in parts), "pairs_allowed": per_port,
    }


def _union(lists: Iterable[tuple[str, ...]]) -> list[str]:
    distinct = set(lists)
    if len(distinct) == 1:
        return list(distinct.pop())
    ports = PortSet()
    for texts in distinct:
        ports = ports | PortSet.parse(texts)
    return ports.texts()


def member_positions(group_positions: Mapping[str, tuple[float, float]],
                     groups: Mapping[str, str]) -> dict[str, tuple[float, float]]:
    """Every segment's place: on a small sunflower around its group's position (segments in
    name order), so that a segment drawn alone sits where its group was."""
    members: dict[str, list[str]] = {}
    for segment in sorted(groups):
        members.setdefault(groups[segment], []).append(segment)
    spacing = 2 / math.sqrt(max(len(group_positions), 1))
    out = {}
    for group, names in members.items():
        if group not in group_positions:
            continue
        x0, y0 = group_positions[group]
        for i, name in enumerate(names):
            if len(names) == 1:
                out[name] = (x0, y0)
                continue
            radius = 0.45 * spacing * math.sqrt((i + 0.5) / len(names))
            angle = i * _GOLDEN_ANGLE
            out[name] = (round(x0 + radius * math.cos(angle), 6),
                         round(y0 + radius * math.sin(angle), 6))
    return out
