"""API filters of hosts, workloads and segments."""

from __future__ import annotations

from django.db.models import QuerySet
from django_filters import rest_framework as filters
from rest_framework.exceptions import ValidationError

from webapp.inventory.models import AgentToken, Host, Segment, Workload
from webapp.inventory.models.queries import selector_q
from webapp.inventory.services import parse_selector

_LABEL_HELP = "`key=value[,key=value...]`: only those carrying every one of these labels."


class LabelSelectorFilter(filters.CharFilter):
    """`?label=app=payments,env=prod`: rows whose labels hold every pair."""

    def filter(self, qs: QuerySet, value: str) -> QuerySet:
        if not value:
            return qs
        try:
            selector = parse_selector(value)
        except ValueError as exc:
            raise ValidationError({self.field_name: [str(exc)]}) from None
        return qs.filter(selector_q(selector))


class HostFilterSet(filters.FilterSet):
    """Hosts by name and labels."""

    label = LabelSelectorFilter(field_name="label", help_text=_LABEL_HELP)

    class Meta:
        model = Host
        fields = ["name"]


class WorkloadFilterSet(filters.FilterSet):
    """Workloads by host, name, attachment, labels and whether they still run."""

    host = filters.CharFilter(field_name="host__name", help_text="host name")
    host_id = filters.NumberFilter(field_name="host_id")
    label = LabelSelectorFilter(field_name="label", help_text=_LABEL_HELP)
    active = filters.BooleanFilter(
        field_name="stopped_at", lookup_expr="isnull",
        help_text="true: running now; false: stopped")

    class Meta:
        model = Workload
        fields = ["name", "attachment"]


class SegmentFilterSet(filters.FilterSet):
    """Segments by name."""

    class Meta:
        model = Segment
        fields = ["name"]


class AgentTokenFilterSet(filters.FilterSet):
    """Agent tokens by host and whether they are still valid."""

    host_name = filters.CharFilter(field_name="host__name", help_text="host name")
    active = filters.BooleanFilter(field_name="revoked_at", lookup_expr="isnull",
                                   help_text="true: still valid; false: revoked")

    class Meta:
        model = AgentToken
        fields = ["host"]
