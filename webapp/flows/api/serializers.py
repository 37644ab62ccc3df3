"""Serializers of flow ingest and flow records."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from webapp.flows.models import FlowRecord
from webapp.flows.services import SOURCES
from webapp.inventory.api.agents import InputErrorSerializer, RawTextField
from webapp.inventory.models import Host


class FlowUploadSerializer(serializers.Serializer[Any]):
    """A batch of flow-log text from one source on a host."""

    host = serializers.CharField(max_length=Host._meta.get_field("name").max_length)
    # The serializer pops declared fields, so `source` here shadows nothing at run time.
    source = serializers.ChoiceField(  # type: ignore[assignment]
        choices=list(SOURCES), default="auto")
    filename = serializers.CharField(allow_blank=True, default="", max_length=1024)
    text = RawTextField()


class BadLineSerializer(serializers.Serializer[Any]):
    """A line of the batch that was not imported, and why."""

    line = serializers.IntegerField()
    reason = serializers.CharField()


class FlowReceiptSerializer(serializers.Serializer[Any]):
    """What became of a batch: raw records accepted, aggregated rows written, bad lines (the
    first 1,000; `bad_line_count` counts all). `seen-again`: the batch was sent before."""

    accepted = serializers.IntegerField()
    written = serializers.IntegerField()
    bad_lines = BadLineSerializer(many=True)
    bad_line_count = serializers.IntegerField()
    source_format = serializers.CharField()
    status = serializers.ChoiceField(choices=["created", "seen-again"])


class FlowRejectionSerializer(serializers.Serializer[Any]):
    """422: the batch is no flow-log format Segscope reads."""

    error = InputErrorSerializer()


class FlowRecordSerializer(serializers.ModelSerializer[FlowRecord]):
    """Flows one host saw in one time bucket, summed."""

    host_name = serializers.CharField(source="host.name", read_only=True)

    class Meta:
        model = FlowRecord
        fields = ["id", "host", "host_name", "bucket_start", "bucket_end", "src", "dst", "proto",
                  "dport", "icmp_type", "icmp_code", "packets", "bytes", "records", "verdict",
                  "rule_ref", "observer", "source_format"]
        read_only_fields = fields
