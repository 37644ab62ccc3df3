"""The graph handed to networkx: nodes, edges and their attributes; a stable layout."""

from __future__ import annotations

from tests.engine.analysis.fleets import build
from tests.engine.analysis.test_graph import EXPECTED, POLICY, WORKLOADS
from webapp.engine.analysis.graph import compute_graph
from webapp.engine.analysis.network import layout, node_link, to_networkx


def test_workload_level_nodes_and_edges_carry_the_contract_fields() -> None:
    digraph = to_networkx(compute_graph(build(POLICY, WORKLOADS)), "workload", POLICY.segments)
    assert sorted(digraph.nodes) == sorted(w.name for w in WORKLOADS)
    assert digraph.nodes["db-2"] == {"kind": "workload", "host": "n2", "segments": ["db"],
                                     "addresses": ["10.2.0.2"]}
    assert {(u, v): d["allowed"] for u, v, d in digraph.edges(data=True)} == EXPECTED
    assert digraph.edges["web-1", "db-2"]["evidence"][0]["host"] == "n1"


def test_segment_level_edges_count_pairs() -> None:
    digraph = to_networkx(compute_graph(build(POLICY, WORKLOADS)), "segment", POLICY.segments)
    assert digraph.nodes["web"] == {"kind": "segment", "members": 2}
    assert digraph.edges["web", "db"]["pairs"] == 4
    assert digraph.edges["web", "cache"]["status"] == "full"


def test_the_layout_is_the_same_between_runs_and_exports_as_node_link() -> None:
    digraph = to_networkx(compute_graph(build(POLICY, WORKLOADS)), "segment", POLICY.segments)
    again = to_networkx(compute_graph(build(POLICY, WORKLOADS)), "segment", POLICY.segments)
    assert layout(digraph) == layout(again)
    assert set(layout(digraph)) == {"web", "db", "cache"}
    data = node_link(digraph)
    assert {n["id"] for n in data["nodes"]} == {"web", "db", "cache"}
    assert len(data["links"]) == 2
