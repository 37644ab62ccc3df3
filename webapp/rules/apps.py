"""Configuration of the rules app."""

from django.apps import AppConfig


class RulesConfig(AppConfig):
    """Snapshots of hosts' rule dumps and their parsed tables, chains, rules and sets."""

    name = "webapp.rules"
    label = "rules"
    verbose_name = "Segscope rules"
