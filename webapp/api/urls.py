"""API routes: one router for every app's resources, plus the OpenAPI schema and docs."""

from django.contrib.auth.decorators import login_required
from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from webapp.api.views import ApiRootView


class ApiRouter(DefaultRouter):
    """Default router whose root also links the schema and docs."""

    APIRootView = ApiRootView


app_name = "api"

router = ApiRouter()

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # The docs are HTML pages: send anonymous browsers to the login form rather than a 403.
    path(
        "docs/",
        login_required(SpectacularSwaggerView.as_view(url_name="api:schema")),
        name="docs",
    ),
    path(
        "redoc/",
        login_required(SpectacularRedocView.as_view(url_name="api:schema")),
        name="redoc",
    ),
    *router.urls,
]
