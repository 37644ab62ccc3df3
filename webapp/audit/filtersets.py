"""API filters of the audit log."""

from __future__ import annotations

from django_filters import rest_framework as filters

from webapp.api.filters import UtcDateTimeFromToRangeFilter
from webapp.audit.models import AuditEvent


class AuditEventFilterSet(filters.FilterSet):
    """Events by action, user and time (`at_after`, `at_before`)."""

    user = filters.CharFilter(field_name="username", help_text="user name")
    at = UtcDateTimeFromToRangeFilter()

    class Meta:
        model = AuditEvent
        fields = ["action"]
