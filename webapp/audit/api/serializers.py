"""Serializers of the audit log and the audit export's query."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from webapp.audit.models import AuditEvent


class AuditEventSerializer(serializers.ModelSerializer[AuditEvent]):
    """One audit event: when, who (by name), what, and its details."""

    user = serializers.CharField(source="username", read_only=True)

    class Meta:
        model = AuditEvent
        fields = ["id", "at", "user", "action", "details"]


class AuditExportQuerySerializer(serializers.Serializer[Any]):
    """The time the export is of."""

    at = serializers.DateTimeField(required=False, help_text="ISO 8601 time with a zone "
                                   "(default: now)")
