from django.apps import AppConfig


class AnalysisConfig(AppConfig):
    """Explanations, and later the effective graph, drift and convergence."""

    name = "webapp.analysis"
    label = "analysis"
