"""Inventory routes outside the root router."""

from django.urls import path

from webapp.inventory.api import views

urlpatterns = [
    path("inventory/", views.InventoryImportView.as_view(), name="inventory-import"),
]
