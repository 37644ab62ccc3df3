"""The OpenAPI schema: every operation says which role it needs."""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema

from webapp.api.permissions import AGENT, required_role

_ROLE_TEXT = {
    AGENT: "Needs a host's agent token (`Authorization: Token …`), for that host only.",
    "viewer": "Role: viewer (any logged-in user).",
    "operator": "Role: operator (the `operator` group, staff, or an admin).",
    "auditor": "Role: auditor (the `auditor` group, or an admin).",
    "admin": "Role: admin (the `admin` group, or a superuser).",
}


class RoleAutoSchema(AutoSchema):
    """drf-spectacular's schema, each operation's description ending with its role."""

    def get_description(self) -> str:  # type: ignore[override]  # drf-spectacular's form
        description = super().get_description() or ""
        role = required_role(self.view, self.method)
        note = _ROLE_TEXT.get(role, f"Role: {role}.") if role else "No login needed."
        return f"{description}\n\n{note}".strip()
