"""The segment graph page's data built by a worker after an analysis and served from the
shared cache by web processes that never counted a pair, on the analysed demo bundle."""

from __future__ import annotations

from typing import Any

import pytest
import redis
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from webapp.analysis import timeline
from webapp.analysis.models import AnalysisState, GraphEdge
from webapp.analysis.partitions import partition_stored
from webapp.inventory.models import Host
from webapp.ui import segment_graph
from webapp.ui.tasks import GRAPH_BUILD, warm_segment_graph_task

pytestmark = pytest.mark.django_db


def _new_web_process() -> None:
    """What a web process that has served nothing yet knows: only the shared cache."""
    for memory in (segment_graph._PARTITIONS, segment_graph._GRAPHS, timeline._INTENTS,
                   segment_graph._MEMBERSHIPS, segment_graph._PAGES):
        memory.clear()


def test_a_web_process_serves_the_page_the_worker_built_without_counting_pairs(
        client_logged_in: Client, demo: None, monkeypatch: pytest.MonkeyPatch) -> None:
    size = warm_segment_graph_task.apply().get()
    _new_web_process()

    def build(*args: Any) -> None:
        raise AssertionError("the page data was built again")

    monkeypatch.setattr(segment_graph, "_classed", build)

    with CaptureQueriesContext(connection) as queries:
        response = client_logged_in.get("/data/segment-graph/")

    assert response.status_code == 200
    assert len(response.content) == size
    assert not [q["sql"] for q in queries if GraphEdge._meta.db_table in q["sql"]]


def test_a_partition_stored_after_the_build_is_counted_not_served_from_the_build(
        client_logged_in: Client, demo: None) -> None:
    warm_segment_graph_task.apply()
    before = client_logged_in.get("/data/segment-graph/").json()
    _new_web_process()
    ledger = Host.objects.get(name="node-03")
    GraphEdge.objects.filter(host=ledger).delete()  # its workloads reached by nobody now
    AnalysisState.objects.filter(host=ledger).update(inputs_hash="stored-again")

    after = client_logged_in.get("/data/segment-graph/").json()

    def allowed(page: dict[str, Any]) -> int:
        return sum(n for e in page["edges"] for n in e["pairs_allowed"].values())

    assert allowed(after) < allowed(before)


def test_stored_partitions_queue_one_build_until_it_starts() -> None:
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    cache.delete(GRAPH_BUILD.key)
    before = broker.llen("background")

    for host_id in (1, 2, 3):  # three partitions stored while no worker started the build
        partition_stored.send(sender=None, host_id=host_id)
    queued_once = broker.llen("background") - before
    warm_segment_graph_task.apply()  # it starts: what is stored from now on asks again
    partition_stored.send(sender=None, host_id=1)
    queued_again = broker.llen("background") - before
    broker.lpop("background", queued_again)  # no worker of a later test runs them
    cache.delete(GRAPH_BUILD.key)

    assert (queued_once, queued_again) == (1, 2)
