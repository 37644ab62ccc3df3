"""Configuration of the policy app."""

from django.apps import AppConfig


class PolicyConfig(AppConfig):
    """Intent versions: the intended segment-to-segment policy, as published."""

    name = "webapp.policy"
    label = "policy"
    verbose_name = "Segscope policy"
