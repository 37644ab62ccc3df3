"""API filters of flow records."""

from __future__ import annotations

from django import forms
from django_filters import rest_framework as filters

from webapp.api.filters import UtcDateTimeFromToRangeFilter
from webapp.flows.models import FlowRecord


class AddressFilter(filters.CharFilter):
    """An IP address, refused with 400 unless it is one (the column is `inet`)."""

    field_class = forms.GenericIPAddressField


class FlowRecordFilterSet(filters.FilterSet):
    """Flows by observing host, verdict, addresses, port and time
    (`bucket_start_after`, `bucket_start_before`)."""

    host = filters.CharFilter(field_name="host__name", help_text="observing host's name")
    host_id = filters.NumberFilter(field_name="host_id")
    bucket_start = UtcDateTimeFromToRangeFilter()
    src = AddressFilter(help_text="source address")
    dst = AddressFilter(help_text="destination address")

    class Meta:
        model = FlowRecord
        fields = ["verdict", "src", "dst", "proto", "dport", "source_format", "rule_ref"]
