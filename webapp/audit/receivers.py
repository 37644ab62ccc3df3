"""Django's signals that become audit events."""

from __future__ import annotations

from typing import Any

from webapp.audit.models import AuditEvent
from webapp.audit.services import record_event
from webapp.logins import LOCKED_META, client_address


def logged_in(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    """A user logged in (login page, admin, or a test client's login)."""
    address = request.META.get("REMOTE_ADDR") if request is not None else None
    record_event(user, AuditEvent.Action.LOGIN, path=getattr(request, "path", None),
                 address=address)


def login_failed(sender: Any, credentials: dict[str, Any], request: Any = None,
                 **kwargs: Any) -> None:
    """A password check failed or was refused during a lockout (never the password itself:
    Django has masked it in `credentials` already)."""
    meta = getattr(request, "META", None) or {}
    record_event(None, AuditEvent.Action.LOGIN_FAILED,
                 username=str(credentials.get("username") or "")[:150],
                 path=getattr(request, "path", None), address=client_address(request),
                 locked=bool(meta.get(LOCKED_META)))
