"""Background analysis: each host's partition when it is due, the sweep that catches up on
flags the broker never delivered, and convergence after analyses."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from celery import current_app, shared_task
from django.conf import settings
from django.db import OperationalError, transaction
from redis.exceptions import ConnectionError as RedisConnectionError

from webapp.analysis.convergence import compute_convergence
from webapp.analysis.partitions import (
    analyse_hosts,
    due_host_ids,
    mark_hosts_due,
    partition_stored,
    release_stale_claims,
)
from webapp.queued import QueuedOnce

logger = logging.getLogger(__name__)

TRANSIENT = (OperationalError, RedisConnectionError)
RETRY = {"autoretry_for": TRANSIENT, "retry_backoff": 2, "retry_backoff_max": 300,
         "retry_jitter": True, "max_retries": 8}


@shared_task(bind=True, ignore_result=True, **RETRY)
def analyse_host_task(self: Any, host_id: int) -> str:
    """Claim a host's dirty flag and store its partition, and those of other hosts due by
    then (their own tasks find nothing to claim); a no-op when nothing changed."""
    # A retry, or a message the broker delivers again because the worker running it died,
    # owns the claim its first run made (the flag it cleared is not set again).
    redelivered = bool((self.request.delivery_info or {}).get("redelivered"))
    outcomes = analyse_hosts(host_id, claimed=self.request.retries > 0 or redelivered,
                             others=settings.SEGSCOPE_ANALYSIS_BATCH - 1)
    stored = False
    due: set[int] = set()
    for analysed, outcome in outcomes:
        logger.info("analysis of host %s: %s (%s edges, %s findings)", analysed,
                    outcome.status, outcome.edges, outcome.findings)
        due.update(outcome.marked, [analysed] if outcome.status == "failed" else [])
        if outcome.status == "stored":
            stored = True
            partition_stored.send(sender=analyse_host_task, host_id=analysed)
    for other in _one_a_batch(due):
        request_analysis(other)
    if stored:
        request_convergence()
    return outcomes[0][1].status


def _one_a_batch(host_ids: Iterable[int]) -> list[int]:
    """One host of every SEGSCOPE_ANALYSIS_BATCH flagged: each task claims as many due hosts,
    and a task a host would mostly find its host claimed by another's batch."""
    return sorted(host_ids)[::settings.SEGSCOPE_ANALYSIS_BATCH]


@shared_task(ignore_result=True, **RETRY)
def sweep_due_analyses_task() -> int:
    """Ask for the analysis of every host whose flag is still set, or whose claimed analysis
    stopped making progress."""
    if released := release_stale_claims():
        logger.warning("%s analyses claimed by a worker that is gone are due again", released)
    hosts = due_host_ids()
    for host_id in _one_a_batch(hosts):
        analyse_host_task.delay(host_id)
    return len(hosts)


@shared_task(ignore_result=True, **RETRY)
def compute_convergence_task() -> bool:
    """Recompute every generation's convergence when the stored history changed; after the
    computation another worker is running, if there is one (side by side, both would hold
    a worker for the same minutes)."""
    with CONVERGENCE.alone() as alone:
        # Tasks run inline (no broker) have no other worker to wait for.
        if not alone and not current_app.conf.task_always_eager:
            compute_convergence_task.apply_async(countdown=CONVERGENCE_WAIT_SECONDS)
            return False
        CONVERGENCE.started()  # a request from here on queues the next computation
        return compute_convergence()


def request_analysis(host_id: int) -> None:
    """Ask a worker to analyse a host; with the broker down the dirty flag still stands."""
    try:
        analyse_host_task.delay(host_id)
    except Exception:  # the flag is committed: the sweep catches up when the broker is back
        logger.exception("could not enqueue the analysis of host %s", host_id)


# Convergence reads the whole history as it is when it runs: one computation waiting in the
# queue answers every request made before it starts, however many analyses stored meanwhile.
CONVERGENCE = QueuedOnce("analysis:convergence")
CONVERGENCE_WAIT_SECONDS = 5  # how soon a run that found another running tries again


def request_convergence() -> None:
    CONVERGENCE.request(compute_convergence_task.delay)


def request_fleet_analysis() -> None:
    """Flag every host (an intent version or a membership change touches them all) and, once
    the transaction commits, ask for their analyses."""
    mark_hosts_due()
    transaction.on_commit(_sweep_now)


def _sweep_now() -> None:
    try:
        sweep_due_analyses_task.delay()
    except Exception:  # the flags are committed: the beat's sweep catches up
        logger.exception("could not enqueue the sweep of due analyses")
