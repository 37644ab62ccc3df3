"""Serializers of hosts, workloads, segments and inventory imports."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from webapp.inventory.models import AgentToken, Host, Segment, Workload
from webapp.inventory.services import attach_member_counts


class HostSerializer(serializers.ModelSerializer[Host]):
    """A host; created by its agent's first call or by an inventory import."""

    class Meta:
        model = Host
        fields = ["id", "name", "addresses", "labels", "created_at", "last_seen_at",
                  "last_snapshot", "analysis_due_at"]
        read_only_fields = fields


class AgentTokenSerializer(serializers.ModelSerializer[AgentToken]):
    """An agent token, by id: its host and lifetime; never its secret."""

    host = serializers.PrimaryKeyRelatedField(queryset=Host.objects.all())
    host_name = serializers.CharField(source="host.name", read_only=True)
    active = serializers.BooleanField(source="is_active", read_only=True)

    class Meta:
        model = AgentToken
        fields = ["id", "host", "host_name", "created_at", "revoked_at", "active"]
        read_only_fields = ["id", "host_name", "created_at", "revoked_at", "active"]


class IssuedAgentTokenSerializer(AgentTokenSerializer):
    """A token just issued, with its secret: shown in this answer only, never again."""

    token = serializers.CharField(read_only=True, help_text="`Authorization: Token <token>`")

    class Meta(AgentTokenSerializer.Meta):
        fields = [*AgentTokenSerializer.Meta.fields, "token"]
        read_only_fields = [*AgentTokenSerializer.Meta.read_only_fields, "token"]


class WorkloadSerializer(serializers.ModelSerializer[Workload]):
    """A workload and its lifetime; `active` while it has not stopped."""

    host_name = serializers.CharField(source="host.name", read_only=True)
    active = serializers.BooleanField(read_only=True)

    class Meta:
        model = Workload
        fields = ["id", "name", "host", "host_name", "addresses", "attachment", "interface",
                  "labels", "started_at", "stopped_at", "active"]
        read_only_fields = fields


class SegmentListSerializer(serializers.ListSerializer[Segment]):
    """Segments, their member counts taken in one query for the whole page."""

    def to_representation(self, data: Any) -> list[Any]:
        segments = list(data.all() if isinstance(data, QuerySet) else data)
        attach_member_counts(segments)
        return super().to_representation(segments)


class SegmentSerializer(serializers.ModelSerializer[Segment]):
    """A segment: a label selector; `members_count` counts the workloads it selects now."""

    members_count = serializers.SerializerMethodField()

    class Meta:
        model = Segment
        fields = ["id", "name", "selector", "members_count"]
        list_serializer_class = SegmentListSerializer

    @extend_schema_field(OpenApiTypes.INT)
    def get_members_count(self, segment: Segment) -> int:
        # Lists attach the counts in one query (SegmentListSerializer); single objects count.
        counted = getattr(segment, "members_count", None)
        return counted if counted is not None else segment.members().count()

    def validate_selector(self, value: Any) -> dict[str, str]:
        if not isinstance(value, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            raise serializers.ValidationError("must map label names to label values (text)")
        return value


class ImportSummarySerializer(serializers.Serializer[Any]):
    """What an inventory import changed."""

    format = serializers.ChoiceField(choices=["segscope", "kubectl", "docker"])
    hosts_created = serializers.IntegerField()
    hosts_updated = serializers.IntegerField()
    workloads_created = serializers.IntegerField()
    workloads_updated = serializers.IntegerField()
    workloads_stopped = serializers.IntegerField()
    workloads_unchanged = serializers.IntegerField()


class InventoryErrorDetailSerializer(serializers.Serializer[Any]):
    """Where an inventory is wrong: the file, the field path and why."""

    file = serializers.CharField()
    path = serializers.CharField()
    reason = serializers.CharField()


class InventoryErrorSerializer(serializers.Serializer[Any]):
    """An inventory that was not imported."""

    error = InventoryErrorDetailSerializer()
