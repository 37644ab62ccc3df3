"""Configuration of the websocket live updates."""

from django.apps import AppConfig


class LiveConfig(AppConfig):
    """Websocket consumers that tell browsers what changed."""

    name = "webapp.live"
    label = "live"
    verbose_name = "Segscope live updates"
