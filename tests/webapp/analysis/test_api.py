"""GET /api/graph/, /api/drift/ and /api/convergence/: filters, pages, and logins."""

from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from webapp.analysis.tasks import compute_convergence_task, sweep_due_analyses_task
from webapp.engine.analysis.ports import PortSet

pytestmark = pytest.mark.django_db


@pytest.fixture
def analysed(demo: Path) -> Path:
    sweep_due_analyses_task.apply()
    compute_convergence_task.apply()
    return demo


def _get(client: Client, path: str, **params: Any) -> dict[str, Any]:
    response = client.get(path, params)
    assert response.status_code == 200, response.content
    return dict(response.json())


@pytest.mark.parametrize("path", ["/api/graph/", "/api/drift/", "/api/convergence/",
                                  "/api/cost/"])
def test_anonymous_is_refused(client: Client, path: str) -> None:
    assert client.get(path).status_code in (401, 403)


def test_the_graph_filters_by_port(analysed: Path, client_logged_in: Client) -> None:
    body = _get(client_logged_in, "/api/graph/", port="tcp/5432")

    assert body["count"] == len(body["edges"]) > 0
    assert all(PortSet.parse(e["allowed"]).contains("tcp", 5432) for e in body["edges"])


def test_the_graph_filters_by_host(analysed: Path, client_logged_in: Client) -> None:
    every = _get(client_logged_in, "/api/graph/", page_size=1000)["edges"]
    on_node_03 = {"web-feae", "cache-db77", "payments-251d", "ledger-5f0d"}

    body = _get(client_logged_in, "/api/graph/", host="node-03", page_size=1000)

    assert body["edges"] == [e for e in every
                             if e["src"] in on_node_03 or e["dst"] in on_node_03]


def test_the_graph_filters_by_segment_at_both_levels(analysed: Path,
                                                     client_logged_in: Client) -> None:
    workloads = _get(client_logged_in, "/api/graph/", segment="ledger", page_size=1000)
    segments = _get(client_logged_in, "/api/graph/", segment="ledger", level="segment")

    assert workloads["edges"] and all("ledger" in e["src"] or "ledger" in e["dst"]
                                      for e in workloads["edges"])
    assert segments["edges"] and all("ledger" in (e["src"], e["dst"])
                                     for e in segments["edges"])


def test_the_graph_pages_its_edges(analysed: Path, client_logged_in: Client) -> None:
    every = _get(client_logged_in, "/api/graph/", page_size=1000)["edges"]

    first = _get(client_logged_in, "/api/graph/", page_size=5)
    second = _get(client_logged_in, "/api/graph/", page_size=5, page=2)

    assert first["count"] == len(every)
    assert first["next"] and first["previous"] is None
    assert first["edges"] + second["edges"] == every[:10]


def test_a_bad_port_is_refused(analysed: Path, client_logged_in: Client) -> None:
    response = client_logged_in.get("/api/graph/", {"port": "http"})

    assert response.status_code == 400
    assert "port" in response.json()


def test_drift_filters_by_kind_host_and_segment(analysed: Path,
                                                client_logged_in: Client) -> None:
    every = _get(client_logged_in, "/api/drift/")["findings"]

    missing = _get(client_logged_in, "/api/drift/", kind="missing")["findings"]
    node_03 = _get(client_logged_in, "/api/drift/", host="node-03")["findings"]
    cache = _get(client_logged_in, "/api/drift/", segment="cache")["findings"]
    nothing = _get(client_logged_in, "/api/drift/", host="node-01")["findings"]

    assert missing == [f for f in every if f["kind"] == "missing"] != []
    assert node_03 == [f for f in every if f["host"] == "node-03"] != []
    assert cache == [f for f in every if "cache" in (f["src_segment"], f["dst_segment"])]
    assert nothing == [f for f in every if f["host"] == "node-01"]


def test_convergence_lists_generations_with_their_hosts(analysed: Path,
                                                        client_logged_in: Client) -> None:
    body = _get(client_logged_in, "/api/convergence/")

    assert [g["generation"] for g in body["generations"]] == list(
        range(1, body["count"] + 1))
    assert body["generations"][-1]["stragglers"] == ["node-03"]


def test_the_cost_is_the_clis(demo: Path, client_logged_in: Client) -> None:
    from webapp.engine.analysis.offline import BundleAnalysis

    body = _get(client_logged_in, "/api/cost/")

    assert body == BundleAnalysis(demo).cost_json()


def test_the_cost_of_one_host_at_a_time(demo: Path, client_logged_in: Client) -> None:
    body = _get(client_logged_in, "/api/cost/", host="node-01", at="2026-11-26T04:59:33Z")

    assert [(h["host"], h["at"], h["rules"]) for h in body["hosts"]] == [
        ("node-01", "2026-11-26T04:59:32Z", 19)]
    assert body["fleet"][-1]["rules"] == 57
