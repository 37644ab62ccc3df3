"""Configuration of the REST API."""

from django.apps import AppConfig


class ApiConfig(AppConfig):
    """Root router, OpenAPI schema and docs, shared pagination."""

    name = "webapp.api"
    label = "api"
    verbose_name = "Segscope API"
