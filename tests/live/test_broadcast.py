"""What the analysis tells the browsers, and when: after commit, small, never failing a task."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from celery import current_app
from django.db import transaction
from django.test import override_settings

from webapp.analysis.convergence import compute_convergence
from webapp.analysis.partitions import analyse_host, due_host_ids
from webapp.inventory.models import Host
from webapp.live import broadcast
from webapp.rules.bundle import ingest_bundle

pytestmark = pytest.mark.django_db(transaction=True)

DEMO = Path(__file__).resolve().parents[2] / "fixtures" / "demo"
Sent = list[tuple[dict[str, Any], tuple[str, ...]]]


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> Sent:
    """Every event handed to the channel layer, with its groups."""
    events: Sent = []
    monkeypatch.setattr(broadcast, "send_now",
                        lambda event, groups: events.append((event, tuple(groups))))
    return events


@pytest.fixture
def demo() -> None:
    ingest_bundle(DEMO)
    current_app.control.purge()  # the analyses it asked for run here, not in a worker


def test_it_sends_an_event_only_once_the_transaction_commits(sent: Sent) -> None:
    with transaction.atomic():
        broadcast.host_analysed(12)
        assert sent == []

    assert sent == [({"type": "host.analysed", "host": 12}, ("fleet", "host-12"))]


def test_it_sends_nothing_when_the_transaction_rolls_back(sent: Sent) -> None:
    with pytest.raises(RuntimeError), transaction.atomic():
        broadcast.host_snapshot(12)
        raise RuntimeError("rolled back")

    assert sent == []


@override_settings(CHANNEL_LAYERS={"default": {
    "BACKEND": "channels_redis.core.RedisChannelLayer",
    "CONFIG": {"hosts": ["redis://127.0.0.1:1/0"]}}})
def test_a_channel_layer_that_is_down_is_logged_not_raised(
        caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="webapp.live.broadcast"):
        broadcast.send_now({"type": "host.snapshot", "host": 1}, ["fleet"])

    assert "could not broadcast host.snapshot" in caplog.text


def test_analysing_a_host_tells_its_group_and_the_fleet(demo: None, sent: Sent) -> None:
    node_02 = Host.objects.get(name="node-02")

    analyse_host(node_02.pk)

    assert ({"type": "host.analysed", "host": node_02.pk},
            ("fleet", f"host-{node_02.pk}")) in sent
    progress = [event for event, _ in sent if event["type"] == "host.progress"]
    assert progress and progress[-1]["done"] == 3


def test_storing_convergence_tells_each_generations_group(demo: None, sent: Sent) -> None:
    for host_id in due_host_ids():
        analyse_host(host_id)
    sent.clear()

    assert compute_convergence()

    assert sent == [
        ({"type": "generation.progress", "generation": 1, "converged": 3, "listed": 3},
         ("fleet", "generation-1")),
        ({"type": "generation.progress", "generation": 2, "converged": 2, "listed": 3},
         ("fleet", "generation-2")),
    ]


async def test_it_sends_from_synchronous_code_running_inside_an_event_loop(
        caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="webapp.live.broadcast"):
        broadcast.send_now({"type": "host.snapshot", "host": 1}, ["fleet"])

    assert "could not broadcast" not in caplog.text


@override_settings(CHANNEL_LAYERS={"default": {
    "BACKEND": "channels_redis.core.RedisChannelLayer",
    "CONFIG": {"hosts": ["redis://127.0.0.1:1/0"]}}})
def test_a_worker_process_logs_a_channel_layer_that_is_down(
        caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    own = broadcast._OwnLoop()
    own.enabled = True
    monkeypatch.setattr(broadcast, "_OWN_LOOP", own)
    with caplog.at_level(logging.WARNING, logger="webapp.live.broadcast"):
        broadcast.send_now({"type": "host.analysed", "host": 1}, ["fleet"])

    assert "could not broadcast host.analysed" in caplog.text
