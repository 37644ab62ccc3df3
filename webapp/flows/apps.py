"""Configuration of the flows app."""

from django.apps import AppConfig


class FlowsConfig(AppConfig):
    """Flow records reported by hosts, aggregated on arrival."""

    name = "webapp.flows"
    label = "flows"
    verbose_name = "Segscope flows"
