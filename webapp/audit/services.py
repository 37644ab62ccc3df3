"""Recording what users do in the audit log."""

from __future__ import annotations

import json
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder

from webapp.audit.models import AuditEvent

ACTIONS = frozenset(AuditEvent.Action.values)


def record_event(user: Any, action: str, **details: Any) -> AuditEvent:
    """Add one event to the audit log: `user` (a User, None or an anonymous user for the
    command line and agents), `action` (one of AuditEvent.Action) and JSON-able details."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}; one of {sorted(ACTIONS)}")
    known = user if getattr(user, "is_authenticated", False) else None
    # Times, addresses and the like become text, as the JSON column would keep them anyway.
    plain = json.loads(json.dumps(details, cls=DjangoJSONEncoder))
    return AuditEvent.objects.create(
        user=known, username=known.get_username() if known is not None else "",
        action=action, details=plain)
