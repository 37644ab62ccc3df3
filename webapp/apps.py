"""Project-level application: loads the Celery app once Django is ready."""

from django.apps import AppConfig


class SegscopeConfig(AppConfig):
    """Segscope's project app; owns project-wide management commands."""

    name = "webapp"
    label = "segscope"
    verbose_name = "Segscope"

    def ready(self) -> None:
        # Imported here, not in webapp/__init__.py, so that webapp.engine stays importable
        # without Django or Celery; @shared_task then binds to this configured app.
        from webapp import celery  # noqa: F401
        from webapp.forkpools import install

        install()
