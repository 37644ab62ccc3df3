"""The effective graph as a networkx DiGraph, for the pages' figures and for export."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import networkx as nx

from webapp.engine.analysis.edges import segment_edges, workload_edge
from webapp.engine.analysis.graph import EffectiveGraph
from webapp.engine.analysis.intended import memberships, segments_of


def to_networkx(graph: EffectiveGraph, level: str = "workload",
                selectors: Mapping[str, Mapping[str, str]] | None = None) -> nx.DiGraph:
    """Workloads (or segments) as nodes, every allowed pair (or segment pair) as an edge whose
    attributes are the contract's edge fields."""
    selectors = selectors or {}
    out = nx.DiGraph(level=level)
    if level == "segment":
        for name, members in memberships(selectors, graph.workloads.values()).items():
            out.add_node(name, kind="segment", members=len(members))
        for edge in segment_edges(graph, selectors):
            out.add_edge(edge["src"], edge["dst"], **{k: v for k, v in edge.items()
                                                      if k not in ("src", "dst")})
        return out
    for workload in sorted(graph.workloads.values(), key=lambda w: w.name):
        out.add_node(workload.name, kind="workload", host=workload.host,
                     segments=segments_of(selectors, workload),
                     addresses=list(workload.addresses))
    for pair in graph.edges():
        edge = workload_edge(pair)
        out.add_edge(pair.src, pair.dst, allowed=edge["allowed"], evidence=edge["evidence"])
    return out


def layout(digraph: nx.DiGraph, seed: int = 7) -> dict[str, tuple[float, float]]:
    """Node positions computed on the server, the same between reloads (a fixed seed, nodes
    in sorted order)."""
    ordered = nx.DiGraph()
    ordered.add_nodes_from(sorted(digraph.nodes))
    ordered.add_edges_from(sorted(digraph.edges))
    positions = nx.spring_layout(ordered, seed=seed) if len(ordered) else {}
    return {str(node): (round(float(x), 6), round(float(y), 6))
            for node, (x, y) in positions.items()}


def node_link(digraph: nx.DiGraph) -> dict[str, Any]:
    """networkx's node-link JSON, for tools that read graphs in that form."""
    return nx.node_link_data(digraph, edges="links")
