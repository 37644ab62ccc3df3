"""Hosts of the fleet and the tokens their agents authenticate with."""

from __future__ import annotations

import hashlib
import secrets

from django.db import models
from django.utils import timezone


def _empty_dict() -> dict[str, str]:
    return {}


class Host(models.Model):
    """A Linux host whose kernel rules Segscope reads."""

    name = models.CharField(max_length=253, unique=True)
    addresses = models.JSONField(default=list, blank=True)
    labels = models.JSONField(default=_empty_dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    last_snapshot = models.ForeignKey(
        "rules.Snapshot", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # Dirty flag: set in the transaction that stores a new snapshot, so that analysis catches up
    # from the database even when the broker or the worker was down.
    analysis_due_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class AgentToken(models.Model):
    """A host agent's credential, stored only as the SHA-256 of the token."""

    host = models.ForeignKey(Host, on_delete=models.CASCADE, related_name="tokens")
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["host__name", "created_at"]

    def __str__(self) -> str:
        return f"token {self.token_hash[:8]}… of {self.host}"

    @staticmethod
    def hash_token(plaintext: str) -> str:
        """The hex SHA-256 under which a token is stored and looked up."""
        return hashlib.sha256(plaintext.encode("utf-8")).hexdigest()

    @classmethod
    def issue(cls, host: Host) -> tuple[AgentToken, str]:
        """Create a token for host; the plaintext is returned once and never stored."""
        plaintext = secrets.token_urlsafe(32)
        token = cls.objects.create(host=host, token_hash=cls.hash_token(plaintext))
        return token, plaintext

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
