"""Flows routes outside the root router: the agent's flow endpoint."""

from django.urls import path

from webapp.flows.api import views

urlpatterns = [
    path("ingest/flows/", views.FlowIngestView.as_view(), name="ingest-flows"),
]
