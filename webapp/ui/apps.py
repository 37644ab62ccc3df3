"""Configuration of the browser-facing pages."""

from typing import Any

from django.apps import AppConfig


class UiConfig(AppConfig):
    """Server-rendered pages: start page, login, and later the graph and timelines."""

    name = "webapp.ui"
    label = "ui"
    verbose_name = "Segscope UI"

    def ready(self) -> None:
        from webapp.analysis.partitions import partition_stored

        partition_stored.connect(_partition_stored, dispatch_uid="ui-graph-warmup")


def _partition_stored(sender: Any, host_id: int, **kwargs: Any) -> None:
    """A new partition changes the segment graph: have a worker build the page's data."""
    from webapp.ui.tasks import request_graph_warmup

    request_graph_warmup()
