"""API root view, and the answer to API paths that name nothing."""

from typing import Any

from django.http import HttpRequest, JsonResponse
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.routers import APIRootView


class ApiRootView(APIRootView):
    """Index of the API: every registered resource, plus the schema and its docs."""

    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        response = super().get(request, *args, **kwargs)
        response.data["schema"] = reverse("api:schema", request=request)
        response.data["docs"] = reverse("api:docs", request=request)
        response.data["redoc"] = reverse("api:redoc", request=request)
        return response


def not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    """404 in JSON, as DRF answers, for an API path no route matches (`/api/hosts/1.5/`)."""
    return JsonResponse({"detail": "Not found."}, status=404)
