"""Serializers of snapshot ingest, snapshots, parsed rules and sets, and diffs."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from webapp.inventory.api.agents import InputErrorSerializer, RawTextField
from webapp.inventory.models import Host
from webapp.rules.models import ParsedRule, ParsedSet, ParsedTable, RejectedUpload, Snapshot


class SnapshotUploadSerializer(serializers.Serializer[Any]):
    """A host's rule dumps at one time, as its agent sends them."""

    host = serializers.CharField(max_length=Host._meta.get_field("name").max_length)
    collected_at = serializers.DateTimeField()
    dumps = serializers.DictField(
        child=RawTextField(),
        help_text="dump name (iptables-save, ip6tables-save, ipset-save, nft.json, "
                  "conntrack.txt) to the tool's output, verbatim")

    def validate_dumps(self, value: dict[str, str]) -> dict[str, str]:
        if not value:
            raise serializers.ValidationError("at least one dump is needed")
        long = [name for name in value if not name or len(name) > 64]
        if long:
            raise serializers.ValidationError(f"bad dump name {long[0]!r}")
        return value


class SnapshotReceiptSerializer(serializers.Serializer[Any]):
    """Which snapshot holds an upload, and whether it was new (`created`) or `seen-again`."""

    snapshot = serializers.IntegerField()
    hash = serializers.CharField()
    status = serializers.ChoiceField(choices=["created", "seen-again"])
    warnings = serializers.ListField(child=serializers.DictField(), required=False)


class SnapshotRejectionSerializer(serializers.Serializer[Any]):
    """422: the upload was kept as rejected upload `upload`; nothing of it was applied."""

    error = InputErrorSerializer()
    upload = serializers.IntegerField()


class HeartbeatSerializer(serializers.Serializer[Any]):
    """An agent's word that its dumps still hash to `snapshot_hash`."""

    host = serializers.CharField(max_length=Host._meta.get_field("name").max_length)
    sent_at = serializers.DateTimeField()
    snapshot_hash = serializers.RegexField(r"^[0-9a-f]{64}$")


class HeartbeatReceiptSerializer(serializers.Serializer[Any]):
    """`known` false: the server's latest snapshot of the host differs; send it whole."""

    status = serializers.CharField(help_text='always "ok"')
    known = serializers.BooleanField()


class SnapshotSerializer(serializers.ModelSerializer[Snapshot]):
    """A snapshot, without its dumps."""

    host_name = serializers.CharField(source="host.name", read_only=True)

    class Meta:
        model = Snapshot
        fields = ["id", "host", "host_name", "content_hash", "collected_at", "received_at",
                  "last_seen_at", "rule_count", "set_count"]
        read_only_fields = fields


class ParsedTableSerializer(serializers.ModelSerializer[ParsedTable]):
    """A table of a snapshot, with its size."""

    class Meta:
        model = ParsedTable
        fields = ["source", "family", "name", "line", "chain_count", "rule_count"]
        read_only_fields = fields


class DumpSizeSerializer(serializers.Serializer[Any]):
    """A stored dump: its name and size in characters."""

    name = serializers.CharField()
    size = serializers.IntegerField()


class SnapshotDetailSerializer(SnapshotSerializer):
    """A snapshot with its parse warnings, dump sizes and tables."""

    dumps = serializers.SerializerMethodField()
    tables = ParsedTableSerializer(many=True, read_only=True)

    class Meta(SnapshotSerializer.Meta):
        fields = [*SnapshotSerializer.Meta.fields, "warnings", "dumps", "tables"]
        read_only_fields = fields

    @extend_schema_field(DumpSizeSerializer(many=True))
    def get_dumps(self, snapshot: Snapshot) -> list[dict[str, Any]]:
        return [{"name": name, "size": len(text)} for name, text in sorted(snapshot.dumps.items())]


class ParsedRuleSerializer(serializers.ModelSerializer[ParsedRule]):
    """A rule of a snapshot at its place, with its counters."""

    class Meta:
        model = ParsedRule
        fields = ["id", "snapshot", "source", "family", "table", "chain", "position", "line",
                  "text", "target", "packets", "bytes"]
        read_only_fields = fields


class ParsedSetSerializer(serializers.ModelSerializer[ParsedSet]):
    """A set of a snapshot, without its members."""

    class Meta:
        model = ParsedSet
        fields = ["id", "snapshot", "source", "family", "table", "name", "type", "line",
                  "member_count"]
        read_only_fields = fields


class ParsedSetDetailSerializer(ParsedSetSerializer):
    """A set with its members."""

    class Meta(ParsedSetSerializer.Meta):
        fields = [*ParsedSetSerializer.Meta.fields, "members"]
        read_only_fields = fields


class RuleChangeSerializer(serializers.Serializer[Any]):
    """A rule added or removed, at its position in its snapshot."""

    position = serializers.IntegerField()
    text = serializers.CharField()


class ChainDiffSerializer(serializers.Serializer[Any]):
    """The rules one chain gained and lost."""

    family = serializers.CharField()
    table = serializers.CharField()
    chain = serializers.CharField()
    added = RuleChangeSerializer(many=True)
    removed = RuleChangeSerializer(many=True)


class SnapshotDiffSerializer(serializers.Serializer[Any]):
    """What changed in the rules from snapshot `against` to snapshot `snapshot`."""

    snapshot = serializers.IntegerField()
    against = serializers.IntegerField()
    added = serializers.IntegerField(help_text="rules added, all chains together")
    removed = serializers.IntegerField(help_text="rules removed, all chains together")
    chains = ChainDiffSerializer(many=True)


class RejectedUploadSerializer(serializers.ModelSerializer[RejectedUpload]):
    """A refused upload and why."""

    host_name = serializers.CharField(source="host.name", read_only=True)

    class Meta:
        model = RejectedUpload
        fields = ["id", "host", "host_name", "received_at", "error"]
        read_only_fields = fields


class RejectedUploadDetailSerializer(RejectedUploadSerializer):
    """A refused upload, whole."""

    class Meta(RejectedUploadSerializer.Meta):
        fields = [*RejectedUploadSerializer.Meta.fields, "raw"]
        read_only_fields = fields
