"""Routes of the browser pages."""

from django.urls import path

from webapp.ui import detail_pages, matrix, pages, views, whatif

app_name = "ui"

urlpatterns = [
    path("", views.StartView.as_view(), name="start"),
    # Names come from hosts, inventories and intents and may hold a slash (`</b>`).
    path("hosts/<path:name>/", detail_pages.HostView.as_view(), name="host"),
    path("segments/<path:name>/", detail_pages.SegmentView.as_view(), name="segment"),
    path("workloads/<path:name>/", detail_pages.WorkloadView.as_view(), name="workload"),
    path("cost/", detail_pages.CostView.as_view(), name="cost"),
    path("flows/", views.FlowListView.as_view(), name="flows"),
    path("explain/", views.ExplainView.as_view(), name="explain"),
    path("service-matrix/", matrix.ServiceMatrixView.as_view(), name="service-matrix"),
    path("overview/", pages.OverviewView.as_view(), name="overview"),
    path("segment-graph/", pages.SegmentGraphView.as_view(), name="segment-graph"),
    path("convergence/", pages.ConvergenceView.as_view(), name="convergence"),
    path("drift/", pages.DriftListView.as_view(), name="drift"),
    # JSON the pages' scripts fetch when a live event says something changed.
    path("data/overview/", pages.OverviewDataView.as_view(), name="overview-data"),
    path("data/segment-graph/", pages.SegmentGraphDataView.as_view(),
         name="segment-graph-data"),
    path("data/segment-edge/", pages.SegmentEdgeDataView.as_view(), name="segment-edge-data"),
    path("data/convergence/", pages.ConvergenceDataView.as_view(), name="convergence-data"),
    path("data/cost/", detail_pages.CostDataView.as_view(), name="cost-data"),
    path("data/hosts/<path:name>/state/", pages.HostStateDataView.as_view(),
         name="host-state-data"),
    path("whatif/", whatif.WhatIfView.as_view(), name="whatif"),
    path("fix/", whatif.FixView.as_view(), name="fix"),
]
