"""Routes of the browser pages."""

from django.urls import path

from webapp.ui import views

app_name = "ui"

urlpatterns = [
    path("", views.StartView.as_view(), name="start"),
]
