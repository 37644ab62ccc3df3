"""The audit log: who did what, and when."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone


def _empty_dict() -> dict[str, Any]:
    return {}


class AuditEvent(models.Model):
    """One recorded action: a login or a failed one, a token issued or revoked, an export, a
    what-if, an intent upload. Rows are only ever added."""

    class Action(models.TextChoices):
        LOGIN = "login", "logged in"
        LOGIN_FAILED = "login-failed", "login failed"
        TOKEN_CREATED = "token-created", "agent token created"
        TOKEN_REVOKED = "token-revoked", "agent token revoked"
        EXPORT = "export", "audit export"
        WHATIF = "what-if", "what-if evaluated"
        INTENT_UPLOAD = "intent-upload", "intent version uploaded"

    at = models.DateTimeField(default=timezone.now, db_index=True)
    # The user may be deleted later; the name they had stays in `username`.
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                             on_delete=models.SET_NULL, related_name="audit_events")
    username = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=32, choices=Action.choices, db_index=True)
    details = models.JSONField(default=_empty_dict, blank=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%dT%H:%M:%SZ} {self.username or '-'} {self.action}"
