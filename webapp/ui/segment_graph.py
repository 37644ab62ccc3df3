"""The segment graph page's data at any scale: segment edges counted from the stored workload
pairs partition by partition (each remembered under its analysis inputs), classed against the
newest intent, laid out once per graph content (the layout cached under its hash), and drawn
as groups of segments when there are more than a page can draw. The whole graph's page data
is kept in the shared cache under what it was built from; the worker builds it after each
analysis (`webapp.ui.tasks`), so that no request meets the cold path."""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import networkx as nx
from django.core.cache import cache
from django.db import connection
from django.db.models import TextField
from django.db.models.functions import Cast

from collectors.intent import Intent
from webapp.analysis.models import AnalysisState, GraphEdge
from webapp.analysis.timeline import parsed_intent
from webapp.engine.analysis.edges import segment_edges_counted
from webapp.engine.analysis.fleet import Workload
from webapp.engine.analysis.grouping import (
    LIMIT,
    default_key,
    group_graph,
    group_names,
    grouping_keys,
    member_positions,
)
from webapp.engine.analysis.intended import (
    intended_pairs,
    memberships,
    ports_of,
    segment_selectors,
)
from webapp.engine.analysis.network import layout
from webapp.engine.analysis.ports import PortSet
from webapp.engine.figures import EDGE_CLASSES, classify_segment_edges, segment_graph_figure
from webapp.inventory.models import Host
from webapp.inventory.models import Workload as WorkloadRow
from webapp.policy.models import IntentVersion

LAYOUT_TIMEOUT = 7 * 24 * 3600
LAYOUT_PREFIX = "segscope:layout:"
PAIRS_PREFIX = "segscope:segment-pairs:"
PAGE_PREFIX = "segscope:graph-page:"

PairCounts = dict[tuple[str, str], dict[tuple[str, ...], int]]


@dataclass(frozen=True, slots=True)
class Membership:
    """The running workloads, the newest intent, its segments and their members, and a hash
    of all of it."""

    workloads: tuple[Workload, ...]
    intent: Any
    selectors: Mapping[str, Mapping[str, str]]
    members: Mapping[str, list[str]]
    digest: str


_LOCK = threading.Lock()
_MEMBERSHIPS: dict[str, Membership] = {}
# Per partition (host, its analysis inputs, the membership): segment pair -> allowed -> pairs.
_PARTITIONS: dict[tuple[int, str, str], PairCounts] = {}
_GRAPHS: OrderedDict[str, tuple[list[dict[str, Any]], list[dict[str, Any]]]] = OrderedDict()
# Page data already built, by what it was built from and asked for.
_PAGES: OrderedDict[tuple[Any, ...], tuple[dict[str, Any], bytes]] = OrderedDict()


def membership() -> Membership:
    """Who is in which segment now, for the newest intent; worked out again only when the
    running workloads or the intent differ from the last call's."""
    rows = list(WorkloadRow.objects.filter(stopped_at__isnull=True).order_by("name")
                .annotate(labels_text=Cast("labels", TextField()),
                          addresses_text=Cast("addresses", TextField()))
                .values_list("name", "host__name", "addresses_text", "attachment", "interface",
                             "labels_text", "started_at"))
    newest = IntentVersion.objects.order_by("-published_at", "-version").first()
    fingerprint = hashlib.sha256(repr(
        (newest.pk, newest.sha256) if newest is not None else None).encode()
        + repr(rows).encode()).hexdigest()
    with _LOCK:
        found = _MEMBERSHIPS.get(fingerprint)
    if found is not None:
        return found
    workloads = tuple(Workload(name, host, tuple(json.loads(addresses)), attachment,
                               interface or "", json.loads(labels), started)
                      for name, host, addresses, attachment, interface, labels, started in rows)
    intent = parsed_intent(newest) if newest is not None else None
    selectors = segment_selectors(intent, workloads)
    members = memberships(selectors, workloads)
    digest = hashlib.sha256(json.dumps(
        [newest.sha256 if newest is not None else "", sorted(selectors.items()),
         sorted(members.items())], sort_keys=True).encode()).hexdigest()
    found = Membership(workloads, intent, selectors, members, digest)
    with _LOCK:
        _MEMBERSHIPS.clear()
        _MEMBERSHIPS[fingerprint] = found
    return found


# Workload pairs per partition, segment pair and allowed ports, counted by PostgreSQL with
# the memberships passed in as two arrays (workload, segment).
_COUNT_SQL = """
WITH member(workload, segment) AS (SELECT * FROM unnest(%s::text[], %s::text[]))
SELECT e.host_id, a.inputs_hash, s.segment, d.segment, e.allowed::text, count(*)
FROM {edges} e
LEFT JOIN {states} a ON a.host_id = e.host_id
JOIN member s ON s.workload = e.src
JOIN member d ON d.workload = e.dst
WHERE e.host_id = ANY(%s)
GROUP BY 1, 2, 3, 4, 5
"""


def _partition_counts(hosts: list[int], of: Mapping[str, list[str]]
                      ) -> Iterator[tuple[int, str | None, str, str, str, int]]:
    """(partition, its inputs hash, source segment, destination segment, allowed as JSON
    text, pairs) for the partitions of `hosts`. The inputs hash comes in the same statement
    as the pairs, so that a partition stored meanwhile is never remembered under the hash of
    the one before."""
    if connection.vendor == "postgresql":
        members = [(w, s) for w, segments in of.items() for s in segments]
        with connection.cursor() as cursor:
            cursor.execute(_COUNT_SQL.format(edges=GraphEdge._meta.db_table,
                                             states=AnalysisState._meta.db_table),
                           [[w for w, _ in members], [s for _, s in members], hosts])
            yield from cursor.fetchall()
        return
    rows = (GraphEdge.objects.filter(host_id__in=hosts)
            .annotate(allowed_text=Cast("allowed", TextField()))
            .values_list("host_id", "host__analysis_state__inputs_hash", "src", "dst",
                         "allowed_text"))
    for host_id, inputs, src, dst, text in rows.iterator(chunk_size=20000):
        for a in of.get(src, ()):
            for b in of.get(dst, ()):
                yield host_id, inputs, a, b, text, 1


def partition_inputs() -> dict[int, str | None]:
    """Each host's partition and the analysis inputs hash it was stored under (None: stored
    by hand, or not yet)."""
    return dict(Host.objects.values_list("id", "analysis_state__inputs_hash"))


def _graph_digest(member: Membership, states: Mapping[int, str | None],
                  total: PairCounts | None = None) -> str:
    """What a graph is counted from: the membership and every partition's inputs, plus the
    counts themselves when a partition has no inputs hash to stand for it."""
    unstated = [h for h, inputs in states.items() if not inputs]
    return hashlib.sha256(json.dumps(
        [member.digest, sorted((h, i or "") for h, i in states.items()),
         sorted((f"{a}|{b}", sorted(c.items())) for (a, b), c in (total or {}).items())
         if unstated else []]).encode()).hexdigest()


def stated_digest(member: Membership, states: Mapping[int, str | None]) -> str | None:
    """The graph's digest without counting anything, when every partition has its inputs
    hash; None otherwise."""
    if not all(states.values()):
        return None
    return _graph_digest(member, states)


def pair_counts(member: Membership, states: dict[int, str | None] | None = None
                ) -> tuple[PairCounts, str]:
    """Workload pairs per segment pair and allowed ports over every stored partition, and a
    hash of what they were counted from. A partition is read once per analysis inputs: the
    partitions an analysis stored since the last call are the only ones read again."""
    of: dict[str, list[str]] = {}
    for segment, names in member.members.items():
        for name in names:
            of.setdefault(name, []).append(segment)
    states = dict(states) if states is not None else partition_inputs()
    with _LOCK:
        known = {h: _PARTITIONS.get((h, inputs or "", member.digest))
                 for h, inputs in states.items()}
    # A partition without an analysis state (written by hand) is read on every call.
    missing = [h for h, counts in known.items() if counts is None or not states[h]]
    # What another web process (or this one before a restart) counted is in the shared cache.
    keys = {h: f"{PAIRS_PREFIX}{h}:{states[h]}:{member.digest}" for h in missing if states[h]}
    if keys:
        cached = cache.get_many(list(keys.values()))
        for h, name in keys.items():
            if name in cached:
                known[h] = cached[name]
                with _LOCK:
                    _PARTITIONS[(h, states[h] or "", member.digest)] = cached[name]
        missing = [h for h in missing if keys.get(h) not in cached]
    if missing:
        fresh: dict[int, tuple[str, PairCounts]] = {h: (states[h] or "", {}) for h in missing}
        texts: dict[str, tuple[str, ...]] = {}
        for host_id, inputs, src, dst, text, n in _partition_counts(missing, of):
            allowed = texts.get(text)
            if allowed is None:
                allowed = texts[text] = tuple(json.loads(text))
            entry = fresh[host_id]
            if entry[0] != (inputs or ""):
                fresh[host_id] = entry = (inputs or "", {})
            by_allowed = entry[1].setdefault((src, dst), {})
            by_allowed[allowed] = by_allowed.get(allowed, 0) + n
        for host_id, (inputs, counts) in fresh.items():
            known[host_id] = counts
            states[host_id] = inputs
        with _LOCK:
            current = {(h, inputs or "", member.digest) for h, inputs in states.items()}
            for key in [k for k in _PARTITIONS if k not in current]:
                del _PARTITIONS[key]
            _PARTITIONS.update({(h, inputs, member.digest): counts
                                for h, (inputs, counts) in fresh.items() if inputs})
        cache.set_many({f"{PAIRS_PREFIX}{h}:{inputs}:{member.digest}": counts
                        for h, (inputs, counts) in fresh.items() if inputs}, LAYOUT_TIMEOUT)
    total: PairCounts = {}
    for part in known.values():
        for pair, by_allowed in (part or {}).items():
            into = total.setdefault(pair, {})
            for allowed, n in by_allowed.items():
                into[allowed] = into.get(allowed, 0) + n
    return total, _graph_digest(member, states, total)


def cached_layout(nodes: list[str], edges: list[tuple[str, str]]) -> dict[str, tuple[float,
                                                                                     float]]:
    """Positions of a graph, computed once per content (sorted nodes and edges) and kept in
    the cache under its hash: the same on every reload and in every web process."""
    nodes, edges = sorted(nodes), sorted(set(edges))
    key = LAYOUT_PREFIX + hashlib.sha256(
        json.dumps([nodes, edges]).encode()).hexdigest()
    found = cache.get(key)
    if found is None:
        graph = nx.DiGraph()
        graph.add_nodes_from(nodes)
        graph.add_edges_from(edges)
        found = layout(graph)
        cache.set(key, found, LAYOUT_TIMEOUT)
    return {name: (x, y) for name, (x, y) in found.items()}


def intended_segment_ports(intent: Any, selectors: Mapping[str, Mapping[str, str]],
                           workloads: list[Workload]) -> dict[tuple[str, str], PortSet]:
    """Segment pairs the intent allows something, with the ports: straight from a Segscope
    intent's segment-to-segment allows, else from the workload pairs it allows."""
    out: dict[tuple[str, str], PortSet] = {}
    if intent is None:
        return out
    if isinstance(intent, Intent):
        for allow in intent.allows:
            src, dst = allow.source.segment, allow.destination.segment
            if src is not None and dst is not None:
                out[(src, dst)] = out.get((src, dst), PortSet()) | ports_of(allow.ports)
        return out
    members = memberships(selectors, workloads)
    of: dict[str, list[str]] = {}
    for segment, names in members.items():
        for name in names:
            of.setdefault(name, []).append(segment)
    for (src, dst), ports in intended_pairs(intent, workloads).items():
        for a in of.get(src, ()):
            for b in of.get(dst, ()):
                out[(a, b)] = out.get((a, b), PortSet()) | ports
    return out


def _classed(member: Membership, states: dict[int, str | None]
             ) -> tuple[str, list[dict[str, Any]], list[dict[str, Any]]]:
    """A hash of the graph, its segment edges with their pair counts, and the same classed
    against the intent."""
    known = stated_digest(member, states)
    with _LOCK:
        found = _GRAPHS.get(known) if known is not None else None
    if found is not None and known is not None:
        return (known, *found)
    counts, digest = pair_counts(member, states)
    with _LOCK:
        found = _GRAPHS.get(digest)
    if found is not None:
        return (digest, *found)
    effective = segment_edges_counted(counts, member.members)
    intended = intended_segment_ports(member.intent, member.selectors, list(member.workloads))
    result = (effective, classify_segment_edges(effective, intended))
    with _LOCK:
        _GRAPHS[digest] = result
        while len(_GRAPHS) > 4:
            _GRAPHS.popitem(last=False)
    return (digest, *result)


def _positions(member: Membership, edges: list[dict[str, Any]],
               groups: Mapping[str, str] | None) -> dict[str, tuple[float, float]]:
    """Segments laid out themselves when a page can draw them all; else their groups are
    laid out and each segment placed next to its group."""
    if groups is None:
        return cached_layout(list(member.members), [(e["src"], e["dst"]) for e in edges])
    pairs = {(groups[e["src"]], groups[e["dst"]]) for e in edges
             if e["src"] in groups and e["dst"] in groups}
    places = cached_layout(sorted(set(groups.values())), [p for p in pairs if p[0] != p[1]])
    return {**places, **member_positions(places, groups)}


def _built(focus: str | None, port: tuple[str, int | None] | None, key: str | None,
           limit: int) -> tuple[dict[str, Any], bytes]:
    member = membership()
    states = partition_inputs()
    keys = grouping_keys(member.selectors)
    key = key if key in keys else default_key(member.selectors)
    # The whole graph's page is shared through the cache (the worker builds it after each
    # analysis): a web process serves it without counting pairs or laying anything out.
    shared = focus is None and port is None
    known = stated_digest(member, states)
    if known is not None:
        found = _remembered((known, focus, port, key, limit), shared)
        if found is not None:
            return found
    digest, effective, all_edges = _classed(member, states)
    asked = (digest, focus, port, key, limit)
    found = _remembered(asked, shared)
    if found is None:
        page = _page(member, effective, all_edges, focus, port, key, keys, limit)
        found = (page, json.dumps(page, separators=(",", ":")).encode())
        _remember(asked, found)
        if shared:
            cache.set(_page_key(asked), found[1], LAYOUT_TIMEOUT)
    return found


def _page_key(asked: tuple[Any, ...]) -> str:
    return PAGE_PREFIX + hashlib.sha256(repr(asked).encode()).hexdigest()


def _remembered(asked: tuple[Any, ...], shared: bool) -> tuple[dict[str, Any], bytes] | None:
    """Page data built before, in this process or (`shared`) by another one."""
    with _LOCK:
        found = _PAGES.get(asked)
    if found is None and shared:
        body = cache.get(_page_key(asked))
        if body is not None:
            found = (json.loads(body), body)
            _remember(asked, found)
    return found


def _remember(asked: tuple[Any, ...], found: tuple[dict[str, Any], bytes]) -> None:
    with _LOCK:
        _PAGES[asked] = found
        while len(_PAGES) > 16:
            _PAGES.popitem(last=False)


def segment_graph(focus: str | None = None, port: tuple[str, int | None] | None = None,
                  key: str | None = None, limit: int = LIMIT) -> dict[str, Any]:
    """Segments and their edges classed against the newest intent, with the plotly figure.
    `focus` keeps a segment (or a group's segments) and its neighbours, `port` the edges
    allowing or intending it. Past `limit` segments to draw, segments are drawn as groups by
    `key` (a label or `prefix`); a focused group is drawn open. Positions come from the whole
    graph, so filtering moves no node."""
    return _built(focus, port, key, limit)[0]


def segment_graph_json(focus: str | None = None, port: tuple[str, int | None] | None = None,
                       key: str | None = None, limit: int = LIMIT) -> bytes:
    """`segment_graph` as compact JSON, encoded once per graph and question."""
    return _built(focus, port, key, limit)[1]


def _page(member: Membership, effective: list[dict[str, Any]],
          all_edges: list[dict[str, Any]], focus: str | None,
          port: tuple[str, int | None] | None, key: str, keys: list[str],
          limit: int) -> dict[str, Any]:
    big = len(member.members) > limit
    groups = group_names(member.selectors, key, limit) if big else None
    positions = _positions(member, all_edges, groups)
    edges = (all_edges if port is None
             else classify_segment_edges(effective, _intended_of(all_edges), port))
    nodes = {name: len(names) for name, names in member.members.items()}
    open_groups: set[str] = set()
    if focus is not None:
        inside = {focus} if focus in nodes else {
            name for name, group in (groups or {}).items() if group == focus}
        if inside and focus not in nodes:
            open_groups.add(focus)
        edges = [e for e in edges if e["src"] in inside or e["dst"] in inside]
        keep = inside | {e["src"] for e in edges} | {e["dst"] for e in edges}
        nodes = {name: count for name, count in nodes.items() if name in keep}
    if groups is not None and len(nodes) > limit:
        drawn, edges = group_graph(nodes, edges, groups, open_groups)
    else:
        drawn = {name: {"workloads": count, "group": None, "segments": 1}
                 for name, count in nodes.items()}
    return {
        "segments": [{"name": name, **drawn[name]} for name in sorted(drawn)],
        "edges": edges, "classes": {k: v["label"] for k, v in EDGE_CLASSES.items()},
        "intent": getattr(member.intent, "version", None) or None,
        "grouping": {"key": key, "keys": keys, "limit": limit, "segments": len(member.members),
                     "grouped": any(d["group"] for d in drawn.values()),
                     "open": sorted(open_groups)},
        "figure": segment_graph_figure(drawn, edges, positions, focus),
    }


def _intended_of(edges: list[dict[str, Any]]) -> dict[tuple[str, str], PortSet]:
    return {(e["src"], e["dst"]): PortSet.parse(e["intended"]) for e in edges if e["intended"]}
