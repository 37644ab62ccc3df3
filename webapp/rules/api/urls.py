"""Rules routes outside the root router: the agent's snapshot and heartbeat endpoints."""

from django.urls import path

from webapp.rules.api import views

urlpatterns = [
    path("ingest/snapshots/", views.SnapshotIngestView.as_view(), name="ingest-snapshots"),
    path("ingest/heartbeat/", views.HeartbeatView.as_view(), name="ingest-heartbeat"),
]
