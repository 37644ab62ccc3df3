"""The dashboard pages and the data their scripts fetch, on the analysed demo bundle."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from django.test import Client

from webapp.inventory.models import Host

pytestmark = pytest.mark.django_db



def data(client: Client, url: str) -> Any:
    response = client.get(url)
    assert response.status_code == 200, response.content[:300]
    return response.json()


def test_the_segment_graph_has_the_intents_segments_and_classes_its_edges(
        client_logged_in: Client, demo: None) -> None:
    graph = data(client_logged_in, "/data/segment-graph/")

    assert [s["name"] for s in graph["segments"]] == ["cache", "ledger", "payments", "web"]
    edges = {(e["src"], e["dst"]): e for e in graph["edges"]}
    assert edges[("payments", "ledger")]["class"] == "intended"
    assert edges[("web", "payments")]["class"] == "intended"
    assert edges[("web", "cache")]["class"] == "intended"
    assert edges[("web", "cache")]["status"] == "partial"
    assert all(e["class"] in ("intended", "missing", "excess") for e in graph["edges"])
    assert graph["figure"]["data"][-1]["customdata"] == ["cache", "ledger", "payments", "web"]


def test_the_layout_is_the_same_between_reloads(client_logged_in: Client, demo: None) -> None:
    first = data(client_logged_in, "/data/segment-graph/")["figure"]["data"][-1]
    again = data(client_logged_in, "/data/segment-graph/")["figure"]["data"][-1]

    assert (first["x"], first["y"]) == (again["x"], again["y"])


def test_focus_keeps_a_segment_and_its_neighbours(client_logged_in: Client, demo: None) -> None:
    graph = data(client_logged_in, "/data/segment-graph/?focus=ledger&port=tcp/5432")

    assert {(e["src"], e["dst"]) for e in graph["edges"]} == {("payments", "ledger")}
    assert [s["name"] for s in graph["segments"]] == ["ledger", "payments"]


def test_an_edge_lists_its_workload_pairs_and_the_rules_per_host(
        client_logged_in: Client, demo: None) -> None:
    edge = data(client_logged_in, "/data/segment-edge/?src=payments&dst=ledger")

    assert ("payments-549f", "ledger-5049") in {(p["src"], p["dst"]) for p in edge["pairs"]}
    assert edge["pairs_total"] == 9
    rules = {h["host"]: h["rules"] for h in edge["hosts"]}
    assert any(r.get("chain", "").startswith("seg-in-") for r in rules["node-02"])


def test_convergence_names_the_straggler_of_the_newest_generation(
        client_logged_in: Client, demo: None) -> None:
    convergence = data(client_logged_in, "/data/convergence/")

    assert convergence["generation"]["generation"] == 2
    assert convergence["generation"]["stragglers"] == ["node-03"]
    assert convergence["figure"]["data"][0]["y"] == [0, 1, 2]


def test_the_host_page_shows_its_convergence_state(client_logged_in: Client, demo: None) -> None:
    page = client_logged_in.get("/hosts/node-03/").content.decode()

    assert 'data-state="pending"' in page
    assert "not converged to generation 2 yet" in page
    state = data(client_logged_in, "/data/hosts/node-01/state/")
    assert state["state"] == "converged"
    assert state["host"] == Host.objects.get(name="node-01").pk


def test_the_overview_links_each_number_to_its_list(client_logged_in: Client, demo: None) -> None:
    page = client_logged_in.get("/overview/").content.decode()

    assert 'href="/convergence/?generation=2"' in page
    assert 'href="/drift/?kind=missing"' in page
    assert 'href="/flows/?verdict=DROP&amp;since=' in page
    overview = data(client_logged_in, "/data/overview/")
    assert overview["hosts"] == 3
    assert overview["generation"]["converged"] == 2


def test_the_drift_list_filters_and_exports_csv(client_logged_in: Client, demo: None) -> None:
    page = client_logged_in.get("/drift/?kind=missing&host=node-03").content.decode()
    assert 'class="finding missing"' in page
    assert 'class="finding excess"' not in page

    export = client_logged_in.get("/drift/?kind=missing&format=csv")
    rows = list(csv.DictReader(io.StringIO(export.content.decode())))
    assert rows and {r["kind"] for r in rows} == {"missing"}


def test_page_data_is_refused_to_anonymous_browsers(client: Client) -> None:
    assert client.get("/data/segment-graph/").status_code == 403
    assert client.get("/segment-graph/").status_code == 302

