"""Segments drawn as groups past what a page can draw: group names, group edges adding up
their segment edges, open groups, and positions next to the group's."""

from __future__ import annotations

from typing import Any

from webapp.engine.analysis.edges import weighted_port_counts
from webapp.engine.analysis.grouping import (
    PREFIX,
    default_key,
    group_graph,
    group_names,
    grouping_keys,
    member_positions,
)
from webapp.engine.analysis.ports import PortSet


def edge(src: str, dst: str, kind: str = "intended", pairs: int | None = 4,
         pairs_allowed: dict[str, int] | None = None, status: str = "full",
         allowed: tuple[str, ...] = ("tcp/5432",),
         intended: tuple[str, ...] = ("tcp/5432",)) -> dict[str, Any]:
    return {"src": src, "dst": dst, "class": kind, "allowed": list(allowed),
            "intended": list(intended), "missing_ports": [], "excess_ports": [],
            "status": status, "pairs": pairs,
            "pairs_allowed": pairs_allowed if pairs_allowed is not None else {"tcp/5432": 4}}


def test_it_groups_segments_by_the_prefix_of_their_name() -> None:
    selectors = {"team-a-web": {"app": "web"}, "team-a-db": {"app": "db"},
                 "team-b-web": {"app": "web2"}, "solo": {"app": "solo"}}

    groups = group_names(selectors, PREFIX)

    assert groups == {"team-a-web": "team-a*", "team-a-db": "team-a*",
                      "team-b-web": "team-b*", "solo": "solo*"}


def test_it_cuts_prefixes_until_there_are_at_most_the_limit_of_groups() -> None:
    selectors = {f"seg{i:04d}": {"segment": f"seg{i:04d}"} for i in range(1200)}

    groups = group_names(selectors, PREFIX, limit=1000)

    assert len(set(groups.values())) == 120
    assert groups["seg0007"] == groups["seg0000"] == "seg000*"
    assert groups["seg1199"] == "seg119*"


def test_it_groups_by_a_label_of_the_selectors() -> None:
    selectors = {"web": {"namespace": "shop", "app": "web"},
                 "db": {"namespace": "shop", "app": "db"}, "dns": {"app": "dns"}}

    assert default_key(selectors) == "namespace"
    assert grouping_keys(selectors) == [PREFIX, "app", "namespace"]
    assert group_names(selectors, "namespace") == {
        "web": "namespace=shop", "db": "namespace=shop", "dns": "namespace unset"}


def test_names_without_a_namespace_group_by_prefix_by_default() -> None:
    assert default_key({"a-web": {"app": "web"}}) == PREFIX


def test_a_group_edge_adds_up_its_segment_edges() -> None:
    nodes = {"a-1": 2, "a-2": 2, "b-1": 3, "b-2": 1}
    groups = {"a-1": "a*", "a-2": "a*", "b-1": "b*", "b-2": "b*"}
    edges = [
        edge("a-1", "b-1", pairs=6, pairs_allowed={"tcp/5432": 6}),
        edge("a-2", "b-1", pairs=6, pairs_allowed={"tcp/5432": 2, "tcp/8000-8100": 6},
             status="partial", allowed=("tcp/5432", "tcp/8000-8100")),
        edge("a-2", "b-2", kind="missing", pairs=None, pairs_allowed={}, status="absent",
             allowed=()),
    ]

    drawn, out = group_graph(nodes, edges, groups)

    assert drawn == {"a*": {"workloads": 4, "group": "a*", "segments": 2},
                     "b*": {"workloads": 4, "group": "b*", "segments": 2}}
    [group] = out
    assert (group["src"], group["dst"], group["group"]) == ("a*", "b*", True)
    assert group["edges"] == 3
    assert group["classes"] == {"missing": 1, "intended": 2}
    assert group["class"] == "missing"  # the one needing most attention
    assert group["pairs"] == 12
    assert group["pairs_allowed"] == {"tcp/5432": 8, "tcp/8000-8100": 6}
    assert group["allowed"] == ["tcp/5432", "tcp/8000-8100"]
    assert group["status"] == "partial"


def test_an_open_group_draws_its_segments_and_edges_to_other_groups_stay_grouped() -> None:
    nodes = {"a-1": 1, "a-2": 1, "b-1": 1, "b-2": 1}
    groups = {"a-1": "a*", "a-2": "a*", "b-1": "b*", "b-2": "b*"}
    edges = [edge("a-1", "b-1"), edge("a-1", "b-2"), edge("a-1", "a-2")]

    drawn, out = group_graph(nodes, edges, groups, open_groups={"a*"})

    assert sorted(drawn) == ["a-1", "a-2", "b*"]
    assert [(e["src"], e["dst"], e.get("edges")) for e in out] == [
        ("a-1", "a-2", None), ("a-1", "b*", 2)]


def test_a_group_of_one_segment_is_drawn_as_the_segment() -> None:
    drawn, out = group_graph({"solo": 3, "a-1": 1, "a-2": 1}, [edge("solo", "a-1")],
                             {"solo": "solo*", "a-1": "a*", "a-2": "a*"})

    assert sorted(drawn) == ["a*", "solo"]
    assert [(e["src"], e["dst"]) for e in out] == [("solo", "a*")]


def test_segments_sit_next_to_their_group_and_a_lone_one_on_its_place() -> None:
    places = {"a*": (0.5, 0.5), "solo*": (-0.5, 0.0)}
    groups = {"a-1": "a*", "a-2": "a*", "a-3": "a*", "solo": "solo*"}

    positions = member_positions(places, groups)

    assert positions["solo"] == (-0.5, 0.0)
    for name in ("a-1", "a-2", "a-3"):
        x, y = positions[name]
        assert abs(x - 0.5) < 0.7 and abs(y - 0.5) < 0.7
    assert len({positions[n] for n in ("a-1", "a-2", "a-3")}) == 3
    assert member_positions(places, groups) == positions


def test_weighted_port_counts_split_overlapping_ranges() -> None:
    counts = weighted_port_counts([(PortSet.parse(["tcp/8000-8100"]), 3),
                                   (PortSet.parse(["tcp/8050"]), 2)])

    assert [(p.texts()[0], n) for p, n in counts] == [
        ("tcp/8000-8049", 3), ("tcp/8050", 5), ("tcp/8051-8100", 3)]


def test_counted_pairs_give_the_segment_edges_the_stored_pairs_give() -> None:
    from webapp.engine.analysis.edges import segment_edges_counted, segment_edges_of
    from webapp.engine.analysis.fleet import Workload

    workloads = [Workload(f"{app}-{i}", "node-01", (f"10.0.{n}.{i}",), "bridged", "",
                          {"app": app}) for n, app in enumerate(("web", "db")) for i in range(3)]
    stored = [{"src": "web-0", "dst": "db-0", "allowed": ["tcp/5432"], "evidence": []},
              {"src": "web-1", "dst": "db-0", "allowed": ["tcp/5432", "tcp/8000-8100"],
               "evidence": []},
              {"src": "web-2", "dst": "db-1", "allowed": ["tcp/8050"], "evidence": []}]
    members = {"web": ["web-0", "web-1", "web-2"], "db": ["db-0", "db-1", "db-2"]}

    counted = segment_edges_counted({("web", "db"): {
        ("tcp/5432",): 1, ("tcp/5432", "tcp/8000-8100"): 1, ("tcp/8050",): 1}}, members)

    [edge] = segment_edges_of(stored, {"web": {"app": "web"}, "db": {"app": "db"}}, workloads)
    assert counted == [{k: v for k, v in edge.items() if k != "evidence"}]
    assert counted[0]["pairs_allowed"] == {"tcp/5432": 2, "tcp/8000-8049": 1, "tcp/8050": 2,
                                           "tcp/8051-8100": 1}
    assert counted[0]["status"] == "partial"
