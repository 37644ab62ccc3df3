"""Django's signals that become audit events."""

from __future__ import annotations

from typing import Any

from webapp.audit.models import AuditEvent
from webapp.audit.services import record_event


def logged_in(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    """A user logged in (login page, admin, or a test client's login)."""
    address = request.META.get("REMOTE_ADDR") if request is not None else None
    record_event(user, AuditEvent.Action.LOGIN, path=getattr(request, "path", None),
                 address=address)
