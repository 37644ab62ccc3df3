"""The server's graph, drift and convergence are the offline CLI's on the same bundle."""

from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from webapp.analysis.tasks import compute_convergence_task, sweep_due_analyses_task
from webapp.engine.analysis.offline import BundleAnalysis

pytestmark = pytest.mark.django_db


def _get(client: Client, path: str, **params: Any) -> dict[str, Any]:
    response = client.get(path, {"page_size": 1000, **params})
    assert response.status_code == 200, response.content
    return dict(response.json())


def _without_drops(generations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in g.items() if k != "drops_while_converging"} for g in generations]


def test_it_answers_as_the_offline_cli_on_the_demo_bundle(demo: Path,
                                                          client_logged_in: Client) -> None:
    sweep_due_analyses_task.apply()
    compute_convergence_task.apply()
    offline = BundleAnalysis(demo)

    workload = _get(client_logged_in, "/api/graph/")
    segment = _get(client_logged_in, "/api/graph/", level="segment")
    drift = _get(client_logged_in, "/api/drift/")
    convergence = _get(client_logged_in, "/api/convergence/")

    assert workload["edges"] == offline.graph_json("workload")["edges"]
    assert segment["edges"] == offline.graph_json("segment")["edges"]
    assert drift["findings"] == offline.drift_json()["findings"]
    # Drops while converging are counted from flow records: the server keeps them in one-minute
    # buckets, the bundle record by record, so only the generations' convergence is compared.
    assert _without_drops(convergence["generations"]) == _without_drops(
        offline.convergence_json()["generations"])
    assert workload["edges"] and drift["findings"] and convergence["generations"]


def test_it_computes_a_past_time_on_the_fly_as_the_offline_cli(
        demo: Path, client_logged_in: Client) -> None:
    at = "2026-11-26T04:59:33Z"
    offline = BundleAnalysis(demo, BundleAnalysis(demo).timeline.earliest)

    for level in ("workload", "segment"):
        body = _get(client_logged_in, "/api/graph/", level=level, at=at)

        assert body["edges"] == offline.graph_json(level)["edges"]
