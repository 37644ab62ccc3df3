"""API filters of snapshots, parsed rules and sets, and rejected uploads."""

from __future__ import annotations

from django_filters import rest_framework as filters

from webapp.api.filters import UtcDateTimeFromToRangeFilter
from webapp.rules.models import ParsedRule, ParsedSet, RejectedUpload, Snapshot


class SnapshotFilterSet(filters.FilterSet):
    """Snapshots by host and collection time (`collected_at_after`, `collected_at_before`)."""

    host = filters.CharFilter(field_name="host__name", help_text="host name")
    host_id = filters.NumberFilter(field_name="host_id")
    collected_at = UtcDateTimeFromToRangeFilter()

    class Meta:
        model = Snapshot
        fields = ["content_hash"]


class ParsedRuleFilterSet(filters.FilterSet):
    """Rules by snapshot, place, target and text."""

    text = filters.CharFilter(lookup_expr="icontains", help_text="rule text contains")

    class Meta:
        model = ParsedRule
        fields = ["snapshot", "source", "family", "table", "chain", "target"]


class ParsedSetFilterSet(filters.FilterSet):
    """Sets by snapshot and name."""

    class Meta:
        model = ParsedSet
        fields = ["snapshot", "source", "family", "name", "type"]


class RejectedUploadFilterSet(filters.FilterSet):
    """Rejected uploads by host."""

    host = filters.CharFilter(field_name="host__name", help_text="host name")
    host_id = filters.NumberFilter(field_name="host_id")

    class Meta:
        model = RejectedUpload
        fields: list[str] = []
