"""Routes of the browser pages."""

from django.urls import path

from webapp.ui import matrix, views, whatif

app_name = "ui"

urlpatterns = [
    path("", views.StartView.as_view(), name="start"),
    path("hosts/<str:name>/", views.HostView.as_view(), name="host"),
    path("flows/", views.FlowListView.as_view(), name="flows"),
    path("explain/", views.ExplainView.as_view(), name="explain"),
    path("service-matrix/", matrix.ServiceMatrixView.as_view(), name="service-matrix"),
    path("whatif/", whatif.WhatIfView.as_view(), name="whatif"),
    path("fix/", whatif.FixView.as_view(), name="fix"),
]
