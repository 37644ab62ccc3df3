"""Background work for the pages: the segment graph page's data built by a worker after the
analysis changed, so that the first person to open the page finds it ready."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from webapp.queued import QueuedOnce
from webapp.ui.segment_graph import segment_graph_json

# The build reads the partitions as they are when it runs. Without the cache there is nowhere
# to put the page data, so no build is queued then.
GRAPH_BUILD = QueuedOnce("ui:segment-graph-build", without_cache=False)


@shared_task(ignore_result=True)
def warm_segment_graph_task() -> int:
    """Count, lay out and encode the whole segment graph into the shared cache; the size of
    the page data."""
    GRAPH_BUILD.started()  # a request from here on queues the next build
    return len(segment_graph_json())


def request_graph_warmup() -> None:
    """Ask a worker to build the segment graph page's data, unless a build is queued. Eager
    mode (the embedded demo) has no worker to spare the request: the page builds it itself."""
    if not settings.CELERY_TASK_ALWAYS_EAGER:
        GRAPH_BUILD.request(warm_segment_graph_task.delay)
