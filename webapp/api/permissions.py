"""Roles and the DRF permissions that require them.

Four roles, each a Django group (created by a migration of the audit app):
- `viewer`: reads everything, and asks questions that change nothing (explain a flow);
  every logged-in user is a viewer;
- `operator`: also issues and revokes agent tokens, imports inventories, defines segments,
  publishes intent versions, runs what-ifs and acknowledges findings; staff users are operators;
- `auditor`: also downloads audit exports and reads the audit log;
- `admin`: every role; superusers are admins.

Each permission class names the role a request needs (`required_role`), which the OpenAPI
schema states on every operation and the tests check on every route.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rest_framework.permissions import SAFE_METHODS, BasePermission

if TYPE_CHECKING:  # DRF's settings import this module while rest_framework.views loads
    from rest_framework.request import Request
    from rest_framework.views import APIView

VIEWER = "viewer"
OPERATOR = "operator"
AUDITOR = "auditor"
ADMIN = "admin"
ROLES = (VIEWER, OPERATOR, AUDITOR, ADMIN)
AGENT = "agent"  # not a user's role: a host's agent token


def roles_of(user: Any) -> frozenset[str]:
    """The roles a user holds (none when not logged in)."""
    if not getattr(user, "is_authenticated", False):
        return frozenset()
    groups = set(user.groups.values_list("name", flat=True))
    if getattr(user, "is_superuser", False) or ADMIN in groups:
        return frozenset(ROLES)
    roles = {VIEWER}
    if getattr(user, "is_staff", False) or OPERATOR in groups:
        roles.add(OPERATOR)
    if AUDITOR in groups:
        roles.add(AUDITOR)
    return frozenset(roles)


def has_role(user: Any, role: str) -> bool:
    """Whether a user holds `role`; reading is asked of every request, and costs no query."""
    if role == VIEWER:
        return bool(getattr(user, "is_authenticated", False))
    return role in roles_of(user)


class RolePermission(BasePermission):
    """A role for reads (GET, HEAD, OPTIONS) and one for everything else."""

    read_role = VIEWER
    write_role = VIEWER

    def required_role(self, method: str) -> str:
        return self.read_role if method.upper() in SAFE_METHODS else self.write_role

    def has_permission(self, request: Request, view: APIView) -> bool:
        role = self.required_role(request.method or "GET")
        self.message = f"This needs the {role} role."
        return has_role(request.user, role)


class IsViewer(RolePermission):
    """Any logged-in user: reads, and questions that change nothing."""


class IsOperatorOrReadOnly(RolePermission):
    """Viewers read; operators write."""

    write_role = OPERATOR


class IsOperator(RolePermission):
    """Operators only, reads included."""

    read_role = write_role = OPERATOR


class IsAuditor(RolePermission):
    """Auditors (and admins) only."""

    read_role = write_role = AUDITOR


class IsAdmin(RolePermission):
    """Admins only."""

    read_role = write_role = ADMIN


def required_role(view: APIView, method: str) -> str | None:
    """The role a request of `method` to `view` needs: the highest its permissions name
    (`agent` for agent-token endpoints; None when nothing is required)."""
    named = []
    for permission in view.get_permissions():
        if hasattr(permission, "required_role"):
            named.append(permission.required_role(method))
        elif (role := getattr(permission, "role", None)) is not None:
            named.append(str(role))
        elif type(permission).__name__ == "IsAuthenticated":  # DRF's, as the schema views use
            named.append(VIEWER)
    if not named:
        return None
    order = {role: i for i, role in enumerate((AGENT, *ROLES))}
    return max(named, key=lambda role: order.get(role, -1))
