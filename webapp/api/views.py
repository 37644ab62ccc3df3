"""API root view."""

from typing import Any

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
