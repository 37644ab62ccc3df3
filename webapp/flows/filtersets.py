"""API filters of flow records."""

from __future__ import annotations

from django_filters import rest_framework as filters

from webapp.flows.models import FlowRecord


class FlowRecordFilterSet(filters.FilterSet):
    """Flows by observing host, verdict, addresses, port and time
    (`bucket_start_after`, `bucket_start_before`)."""

    host = filters.CharFilter(field_name="host__name", help_text="observing host's name")
    host_id = filters.NumberFilter(field_name="host_id")
    bucket_start = filters.IsoDateTimeFromToRangeFilter()

    class Meta:
        model = FlowRecord
        fields = ["verdict", "src", "dst", "proto", "dport", "source_format", "rule_ref"]
