"""Configuration of the inventory app."""

from django.apps import AppConfig


class InventoryConfig(AppConfig):
    """Hosts, their agent tokens, workloads and segments."""

    name = "webapp.inventory"
    label = "inventory"
    verbose_name = "Segscope inventory"
