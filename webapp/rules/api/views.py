"""API views of snapshot ingest, heartbeats, snapshots, parsed rules and sets."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from webapp.inventory.api.agents import (
    AGENT_ERROR_RESPONSES,
    IngestView,
    PayloadTooLarge,
    agent_host,
)
from webapp.rules import services
from webapp.rules.api.serializers import (
    HeartbeatReceiptSerializer,
    HeartbeatSerializer,
    ParsedRuleSerializer,
    ParsedSetDetailSerializer,
    ParsedSetSerializer,
    RejectedUploadDetailSerializer,
    RejectedUploadSerializer,
    SnapshotDetailSerializer,
    SnapshotDiffSerializer,
    SnapshotReceiptSerializer,
    SnapshotRejectionSerializer,
    SnapshotSerializer,
    SnapshotUploadSerializer,
)
from webapp.rules.dumps import TooManyRules
from webapp.rules.filtersets import (
    ParsedRuleFilterSet,
    ParsedSetFilterSet,
    RejectedUploadFilterSet,
    SnapshotFilterSet,
)
from webapp.rules.models import ParsedRule, ParsedSet, RejectedUpload, Snapshot


class SnapshotIngestView(IngestView):
    """`POST /api/ingest/snapshots/`: an agent's rule dumps (docs/ingest.md)."""

    @extend_schema(
        operation_id="ingest_snapshot", request=SnapshotUploadSerializer,
        responses={201: SnapshotReceiptSerializer, 200: SnapshotReceiptSerializer,
                   422: SnapshotRejectionSerializer, **AGENT_ERROR_RESPONSES})
    def post(self, request: Request) -> Response:
        """Store a snapshot (201), or re-stamp the identical latest one (200, seen-again)."""
        upload = SnapshotUploadSerializer(data=request.data)
        upload.is_valid(raise_exception=True)
        data = upload.validated_data
        try:
            receipt = services.ingest_snapshot(
                agent_host(request), data["collected_at"], data["dumps"], raw=upload.initial_data)
        except services.SnapshotRejected as exc:
            return Response({"error": exc.error, "upload": exc.upload_id},
                            status=status.HTTP_422_UNPROCESSABLE_ENTITY)
        except TooManyRules as exc:
            raise PayloadTooLarge("SEGSCOPE_MAX_RULES", exc.maximum, str(exc)) from None
        return Response(SnapshotReceiptSerializer(receipt.to_dict()).data,
                        status=status.HTTP_201_CREATED if receipt.created else status.HTTP_200_OK)


class HeartbeatView(IngestView):
    """`POST /api/ingest/heartbeat/`: an agent whose dumps did not change."""

    @extend_schema(operation_id="ingest_heartbeat", request=HeartbeatSerializer,
                   responses={200: HeartbeatReceiptSerializer, **AGENT_ERROR_RESPONSES})
    def post(self, request: Request) -> Response:
        """Note the host is alive and still holds its snapshot; `known` false asks for it."""
        beat = HeartbeatSerializer(data=request.data)
        beat.is_valid(raise_exception=True)
        known = services.record_heartbeat(
            agent_host(request), beat.validated_data["sent_at"],
            beat.validated_data["snapshot_hash"])
        return Response({"status": "ok", "known": known})


class SnapshotViewSet(viewsets.ReadOnlyModelViewSet[Snapshot]):
    """Snapshots of hosts' rule dumps."""

    queryset = Snapshot.objects.select_related("host")
    filterset_class = SnapshotFilterSet

    def get_queryset(self) -> QuerySet[Snapshot]:
        if self.action == "retrieve":
            return self.queryset.prefetch_related("tables")
        if self.action == "raw":
            return self.queryset
        return self.queryset.defer("dumps", "warnings")  # lists and diffs: no dumps

    def get_serializer_class(self) -> type[BaseSerializer[Any]]:
        return SnapshotSerializer if self.action == "list" else SnapshotDetailSerializer

    @extend_schema(
        parameters=[OpenApiParameter("against", OpenApiTypes.INT, required=True,
                                     description="the earlier snapshot of the same host")],
        responses={200: SnapshotDiffSerializer,
                   400: OpenApiResponse(description="no `against`, or another host's")})
    @action(detail=True, filterset_class=None, pagination_class=None)
    def diff(self, request: Request, pk: str | None = None) -> Response:
        """Rules added and removed, per chain, from snapshot `against` to this one."""
        against_id = request.query_params.get("against", "")
        if not against_id.isdecimal():
            raise exceptions.ValidationError({"against": ["give the id of another snapshot"]})
        snapshot = self.get_object()
        against = get_object_or_404(Snapshot.objects.only("id", "host_id"), pk=int(against_id))
        try:
            chains = services.snapshot_diff(snapshot, against)
        except services.DifferentHosts as exc:
            raise exceptions.ValidationError({"against": [str(exc)]}) from None
        return Response(SnapshotDiffSerializer({
            "snapshot": snapshot.pk, "against": against.pk,
            "added": sum(len(c.added) for c in chains),
            "removed": sum(len(c.removed) for c in chains),
            "chains": [c.to_dict() for c in chains]}).data)

    @extend_schema(
        parameters=[OpenApiParameter("dump", OpenApiTypes.STR, required=True,
                                     description="dump name, e.g. iptables-save")],
        responses={(200, "text/plain"): OpenApiTypes.STR})
    @action(detail=True, filterset_class=None, pagination_class=None)
    def raw(self, request: Request, pk: str | None = None) -> HttpResponse:
        """One dump of the snapshot, verbatim, as the agent sent it."""
        dumps = self.get_object().dumps
        name = request.query_params.get("dump", "")
        if name not in dumps:
            raise exceptions.NotFound(f"this snapshot has no dump {name!r}; it has "
                                      f"{sorted(dumps)}")
        return HttpResponse(dumps[name], content_type="text/plain; charset=utf-8")


class ParsedRuleViewSet(viewsets.ReadOnlyModelViewSet[ParsedRule]):
    """Rules of snapshots, in dump order."""

    queryset = ParsedRule.objects.all()
    serializer_class = ParsedRuleSerializer
    filterset_class = ParsedRuleFilterSet


class ParsedSetViewSet(viewsets.ReadOnlyModelViewSet[ParsedSet]):
    """Sets of snapshots (ipset and nft); members in the detail."""

    queryset = ParsedSet.objects.all()
    filterset_class = ParsedSetFilterSet

    def get_queryset(self) -> QuerySet[ParsedSet]:
        return self.queryset.defer("members") if self.action == "list" else self.queryset

    def get_serializer_class(self) -> type[BaseSerializer[Any]]:
        return ParsedSetSerializer if self.action == "list" else ParsedSetDetailSerializer


class RejectedUploadViewSet(viewsets.ReadOnlyModelViewSet[RejectedUpload]):
    """Uploads refused as unparseable, kept for inspection."""

    queryset = RejectedUpload.objects.select_related("host")
    filterset_class = RejectedUploadFilterSet

    def get_queryset(self) -> QuerySet[RejectedUpload]:
        return self.queryset.defer("raw") if self.action == "list" else self.queryset

    def get_serializer_class(self) -> type[BaseSerializer[Any]]:
        return RejectedUploadSerializer if self.action == "list" else \
            RejectedUploadDetailSerializer
