"""Roles of logged-in users: everyone reads; operators (staff or group `operator`) change."""

from __future__ import annotations

from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView

OPERATOR_GROUP = "operator"


def is_operator(user: object) -> bool:
    """Whether a user may change the inventory: staff, or a member of the `operator` group."""
    if not getattr(user, "is_authenticated", False):
        return False
    if getattr(user, "is_staff", False):
        return True
    return bool(user.groups.filter(name=OPERATOR_GROUP).exists())  # type: ignore[attr-defined]


class IsOperator(BasePermission):
    """Operators only."""

    message = "Only operators (staff or the `operator` group) may do this."

    def has_permission(self, request: Request, view: APIView) -> bool:
        return is_operator(request.user)


class IsOperatorOrReadOnly(BasePermission):
    """Logged-in users read; operators write."""

    message = IsOperator.message

    def has_permission(self, request: Request, view: APIView) -> bool:
        if request.method in SAFE_METHODS:
            return bool(request.user and request.user.is_authenticated)
        return is_operator(request.user)
