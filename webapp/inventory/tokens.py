"""Agent token lifecycle: issue, revoke and rotate, each recorded in the audit log."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from webapp.audit.models import AuditEvent
from webapp.audit.services import record_event
from webapp.inventory.models import AgentToken, Host


class TokenRevoked(Exception):
    """The token was revoked already: it cannot be rotated."""


def issue_agent_token(host: Host, user: Any, *, via: str) -> tuple[AgentToken, str]:
    """A new token for `host`; the plaintext is returned once and only its hash is stored."""
    with transaction.atomic():
        token, plaintext = AgentToken.issue(host)
        record_event(user, AuditEvent.Action.TOKEN_CREATED, host=host.name, token=token.pk,
                     via=via)
    return token, plaintext


def revoke_agent_token(token: AgentToken, user: Any, *, via: str) -> bool:
    """Revoke `token` from its very next request on; False (and nothing recorded) when it
    was revoked already."""
    with transaction.atomic():
        # Conditional: two concurrent revocations record one event.
        revoked = AgentToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now())
        if revoked != 1:
            return False
        record_event(user, AuditEvent.Action.TOKEN_REVOKED, host=token.host.name,
                     token=token.pk, via=via)
    token.refresh_from_db(fields=["revoked_at"])
    return True


def rotate_agent_token(token: AgentToken, user: Any, *, via: str) -> tuple[AgentToken, str]:
    """Revoke `token` and issue its host a new one, in one transaction; TokenRevoked when
    `token` was revoked already."""
    with transaction.atomic():
        if not revoke_agent_token(token, user, via=via):
            raise TokenRevoked(f"token {token.pk} is revoked")
        new, plaintext = AgentToken.issue(token.host)
        record_event(user, AuditEvent.Action.TOKEN_CREATED, host=token.host.name, token=new.pk,
                     via=via, replaces=token.pk)
    return new, plaintext
