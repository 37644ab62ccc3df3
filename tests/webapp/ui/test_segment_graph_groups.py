"""The segment graph of a fleet with more segments than a page draws: groups, their edges'
counts, and opening a group, on the stored analysis of a generated fleet."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from bench.graph_rows import graph_edges, store
from bench.seed import SeedFleet, SeedScale, seed_fleet
from tests.webapp.ui.test_dashboard import data

pytestmark = pytest.mark.django_db

# 1,200 segments of one workload each, each reaching two others, on forty hosts.
SCALE = SeedScale(hosts=40, segments=1200, members=1, peers=2)


@pytest.fixture(scope="module")
def generated() -> tuple[SeedFleet, list[dict[str, Any]]]:
    seed = seed_fleet(SCALE)
    return seed, list(graph_edges(seed))


@pytest.fixture
def big_fleet(generated: tuple[SeedFleet, list[dict[str, Any]]]) -> SeedFleet:
    seed, edges = generated
    store(seed, edges=edges)
    return seed


def test_a_fleet_past_a_thousand_segments_draws_groups_whose_edges_add_up_their_segments(
        client_logged_in: Client, big_fleet: SeedFleet) -> None:
    graph = data(client_logged_in, "/data/segment-graph/")

    nodes = graph["segments"]
    assert len(nodes) <= 1000
    assert graph["grouping"] == {"key": "prefix", "keys": ["prefix", "segment"],
                                 "limit": 1000, "segments": 1200, "grouped": True, "open": []}
    assert sum(n["segments"] for n in nodes) == 1200
    assert {n["name"] for n in nodes} == {f"seg{i:03d}*" for i in range(120)}
    # Every allow of the intent is one allowed workload pair, counted in its group edge.
    want: dict[tuple[str, str], dict[str, int]] = {}
    for allow in big_fleet.intent.allows:
        assert allow.source.segment is not None and allow.destination.segment is not None
        pair = (allow.source.segment[:6] + "*", allow.destination.segment[:6] + "*")
        port = f"tcp/{allow.ports[0].low}"
        want.setdefault(pair, {}).setdefault(port, 0)
        want[pair][port] += 1
    got = {(e["src"], e["dst"]): e for e in graph["edges"]}
    assert set(got) == set(want)
    for pair, per_port in want.items():
        assert got[pair]["pairs_allowed"] == dict(sorted(per_port.items())), pair
        assert got[pair]["edges"] == got[pair]["pairs"] == sum(per_port.values())
        assert got[pair]["classes"] == {"intended": sum(per_port.values())}
    assert graph["figure"]["data"][-1]["marker"]["symbol"][0] == "square"


def test_picking_a_group_opens_it_with_its_segments_and_their_neighbours(
        client_logged_in: Client, big_fleet: SeedFleet) -> None:
    graph = data(client_logged_in, "/data/segment-graph/?focus=seg000*")

    members = {f"seg{i:04d}" for i in range(10)}
    neighbours = {a.destination.segment for a in big_fleet.intent.allows
                  if a.source.segment in members} | {
        a.source.segment for a in big_fleet.intent.allows if a.destination.segment in members}
    assert {n["name"] for n in graph["segments"]} == members | neighbours
    assert all(n["group"] is None for n in graph["segments"])
    assert graph["grouping"]["open"] == ["seg000*"]
    assert graph["edges"] and all(e["src"] in members or e["dst"] in members
                                  for e in graph["edges"])
    assert all("group" not in e for e in graph["edges"])


def test_a_segment_found_by_search_keeps_the_place_it_has_in_its_group(
        client_logged_in: Client, big_fleet: SeedFleet) -> None:
    opened = data(client_logged_in, "/data/segment-graph/?focus=seg000*")["figure"]["data"][-1]
    found = data(client_logged_in, "/data/segment-graph/?focus=seg0003")["figure"]["data"][-1]
    again = data(client_logged_in, "/data/segment-graph/?focus=seg0003")["figure"]["data"][-1]

    def place(trace: dict[str, Any], name: str) -> tuple[float, float]:
        index = trace["customdata"].index(name)
        return trace["x"][index], trace["y"][index]

    assert place(found, "seg0003") == place(opened, "seg0003")
    assert (found["x"], found["y"]) == (again["x"], again["y"])


def test_the_port_filter_keeps_the_group_edges_of_that_port(
        client_logged_in: Client, big_fleet: SeedFleet) -> None:
    graph = data(client_logged_in, "/data/segment-graph/?port=tcp/443")

    want = sum(1 for a in big_fleet.intent.allows if a.ports[0].low == 443)
    assert graph["grouping"]["grouped"] and len(graph["segments"]) <= 1000
    assert graph["edges"] and all(set(e["pairs_allowed"]) == {"tcp/443"} for e in graph["edges"])
    assert sum(e["pairs_allowed"]["tcp/443"] for e in graph["edges"]) == want
