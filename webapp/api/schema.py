"""The OpenAPI schema: every operation says which role it needs and the errors it may answer."""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers

from webapp.api.permissions import AGENT, required_role

_ROLE_TEXT = {
    AGENT: "Needs a host's agent token (`Authorization: Token …`), for that host only.",
    "viewer": "Role: viewer (any logged-in user).",
    "operator": "Role: operator (the `operator` group, staff, or an admin).",
    "auditor": "Role: auditor (the `auditor` group, or an admin).",
    "admin": "Role: admin (the `admin` group, or a superuser).",
}


class ErrorDetailSerializer(serializers.Serializer[Any]):
    """DRF's error answer: one sentence saying what was refused."""

    detail = serializers.CharField()


_VALIDATION = OpenApiResponse(
    {"type": "object", "additionalProperties": True},
    description="the body or a query parameter is invalid; messages by field, or a `detail`")
_NOT_LOGGED_IN = OpenApiResponse(
    ErrorDetailSerializer, description="not logged in, or the role is missing")
_NOT_FOUND = OpenApiResponse(
    ErrorDetailSerializer, description="no such object, or a page past the last")


class RoleAutoSchema(AutoSchema):
    """drf-spectacular's schema, each operation's description ending with its role, and the
    errors every DRF view may answer documented where the view has not said them itself."""

    def get_description(self) -> str:  # type: ignore[override]  # drf-spectacular's form
        description = super().get_description() or ""
        role = required_role(self.view, self.method)
        note = _ROLE_TEXT.get(role, f"Role: {role}.") if role else "No login needed."
        return f"{description}\n\n{note}".strip()

    def get_operation(self, path: str, path_regex: str, path_prefix: str, method: str,
                      registry: Any) -> dict[str, Any] | None:
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        where = {parameter.get("in") for parameter in operation.get("parameters", [])}
        errors: list[tuple[str, OpenApiResponse]] = []
        if "requestBody" in operation or "query" in where:
            errors.append(("400", _VALIDATION))
        if required_role(self.view, self.method) not in (None, AGENT):
            errors.append(("403", _NOT_LOGGED_IN))
        if "path" in where or self._is_list_view():
            errors.append(("404", _NOT_FOUND))
        responses = operation["responses"]
        for code, response in errors:
            if code not in responses:
                responses[code] = self._get_response_for_code(response, code)
        return operation
