"""Celery application for Segscope's background analysis."""

import logging
import os
from typing import Any

from celery import Celery, bootsteps
from celery.signals import worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")

logger = logging.getLogger(__name__)

SWEEP_TASK = "webapp.analysis.tasks.sweep_due_analyses_task"
GRAPH_TASK = "webapp.ui.tasks.warm_segment_graph_task"

app = Celery("segscope")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Periodic work. `expires` drops a sweep that waited past the next one (a worker was down).
app.conf.beat_schedule = {
    "sweep-due-analyses": {
        "task": SWEEP_TASK,
        "schedule": 60.0,
        "options": {"expires": 55.0},
    },
}


class SweepOnConnect(bootsteps.StartStopStep):
    """Ask for a sweep of due analyses each time the worker (re)connects to the broker: hosts
    flagged while the broker was down are analysed then, not at the next beat. Ask too for the
    segment graph page's data, which a new deployment or an emptied cache lacks."""

    requires = {"celery.worker.consumer.tasks:Tasks"}

    def start(self, parent: Any) -> None:
        try:
            parent.app.send_task(SWEEP_TASK, expires=55.0)
            parent.app.send_task(GRAPH_TASK, expires=300.0)
        except Exception:  # the beat's sweep asks again; the page builds its own data
            logger.exception("could not ask for a sweep of due analyses")


app.steps["consumer"].add(SweepOnConnect)


@worker_init.connect
def _send_events_from_own_loop(**_: Any) -> None:
    """A worker's processes (its pool's children inherit this) keep one event loop and
    channel layer connection for the events they send."""
    from webapp.live.broadcast import send_from_own_loop

    send_from_own_loop()
