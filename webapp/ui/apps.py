"""Configuration of the browser-facing pages."""

from django.apps import AppConfig


class UiConfig(AppConfig):
    """Server-rendered pages: start page, login, and later the graph and timelines."""

    name = "webapp.ui"
    label = "ui"
    verbose_name = "Segscope UI"
