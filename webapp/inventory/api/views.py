"""API views of hosts, workloads, segments, and inventory import."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import IO, Any

from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.parsers import BaseParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import APISettings
from rest_framework.views import APIView

from collectors.inventory import FORMATS, InventoryError, parse_inventory
from webapp.inventory.api.agents import read_bounded_body
from webapp.inventory.api.permissions import IsOperator, IsOperatorOrReadOnly
from webapp.inventory.api.serializers import (
    AgentTokenSerializer,
    HostSerializer,
    ImportSummarySerializer,
    InventoryErrorSerializer,
    IssuedAgentTokenSerializer,
    SegmentSerializer,
    WorkloadSerializer,
)
from webapp.inventory.filtersets import (
    AgentTokenFilterSet,
    HostFilterSet,
    SegmentFilterSet,
    WorkloadFilterSet,
)
from webapp.inventory.models import AgentToken, Host, Segment, Workload
from webapp.inventory.services import apply_inventory
from webapp.inventory.tokens import (
    TokenRevoked,
    issue_agent_token,
    revoke_agent_token,
    rotate_agent_token,
)


class HostViewSet(viewsets.ReadOnlyModelViewSet[Host]):
    """Hosts of the fleet."""

    queryset = Host.objects.all()
    serializer_class = HostSerializer
    filterset_class = HostFilterSet


class WorkloadViewSet(viewsets.ReadOnlyModelViewSet[Workload]):
    """Workloads, running and stopped."""

    queryset = Workload.objects.select_related("host")
    serializer_class = WorkloadSerializer
    filterset_class = WorkloadFilterSet


class SegmentViewSet(viewsets.ModelViewSet[Segment]):
    """Segments: everyone reads, operators define them."""

    queryset = Segment.objects.all()
    serializer_class = SegmentSerializer
    filterset_class = SegmentFilterSet
    permission_classes = [IsOperatorOrReadOnly]

    @extend_schema(
        parameters=[OpenApiParameter("at", OpenApiTypes.DATETIME,
                                     description="members at this time (default: now)")],
        responses=WorkloadSerializer(many=True))
    @action(detail=True, filterset_class=None)
    def members(self, request: Request, pk: str | None = None) -> Response:
        """The workloads the segment selects, now or at `at`."""
        at = _moment(request.query_params.get("at"))
        members = self.get_object().members(at).select_related("host")
        assert self.paginator is not None
        page = self.paginator.paginate_queryset(members, request, view=self)
        return self.get_paginated_response(WorkloadSerializer(page, many=True).data)


class AgentTokenViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin,
                        mixins.CreateModelMixin, mixins.DestroyModelMixin,
                        viewsets.GenericViewSet[AgentToken]):
    """Agent tokens (operators): issue one for a host, rotate it, revoke it. Only the answer
    that issues a token carries its secret; the server keeps its SHA-256."""

    queryset = AgentToken.objects.select_related("host")
    serializer_class = AgentTokenSerializer
    filterset_class = AgentTokenFilterSet
    permission_classes = [IsOperator]

    @extend_schema(responses={201: IssuedAgentTokenSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Issue a token for `host`; the answer's `token` is shown this once."""
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        token, plaintext = issue_agent_token(serializer.validated_data["host"], request.user,
                                             via="api")
        return _issued(token, plaintext)

    @extend_schema(request=None, responses={
        201: IssuedAgentTokenSerializer,
        409: OpenApiResponse(description="the token is revoked already")})
    @action(detail=True, methods=["post"], filterset_class=None)
    def rotate(self, request: Request, pk: str | None = None) -> Response:
        """Revoke this token and issue its host a new one (shown this once)."""
        try:
            token, plaintext = rotate_agent_token(self.get_object(), request.user, via="api")
        except TokenRevoked:
            return Response({"detail": "This token is revoked; issue a new one instead."},
                            status=status.HTTP_409_CONFLICT)
        return _issued(token, plaintext)

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Revoke the token: its very next request is refused. The row stays, as evidence."""
        revoke_agent_token(self.get_object(), request.user, via="api")
        return Response(status=status.HTTP_204_NO_CONTENT)


def _issued(token: AgentToken, plaintext: str) -> Response:
    data = {**AgentTokenSerializer(token).data, "token": plaintext}
    return Response(data, status=status.HTTP_201_CREATED)


def _moment(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        moment = parse_datetime(text)
    except ValueError:  # well formed but no time, like an offset of 24 hours or more
        moment = None
    if moment is None or moment.tzinfo is None:
        raise exceptions.ValidationError({"at": ["expected an ISO 8601 time with a zone"]})
    try:
        # As UTC: PostgreSQL refuses offsets past ±15:59 that Python accepts.
        return moment.astimezone(UTC)
    except OverflowError:
        raise exceptions.ValidationError({"at": ["a time within the years 1 to 9999"]}) from None


class InventoryFileParser(BaseParser):
    """The request body as bytes, whatever its media type, bounded like ingest bodies."""

    media_type = "*/*"

    def parse(  # type: ignore[override]
        self, stream: IO[Any], media_type: str | None = None, parser_context: Any = None
    ) -> bytes:
        return read_bounded_body(stream, parser_context)


class AcceptHeaderNegotiation(DefaultContentNegotiation):
    """Renderers chosen by the Accept header alone: `?format=` names the inventory's format
    here, not the answer's, which DRF would refuse with 404 for `kubectl` or `docker`."""

    # The stubs type this as DRF's module-level settings object and its argument too narrowly.
    settings = APISettings({"URL_FORMAT_OVERRIDE": None})  # type: ignore[arg-type,assignment]


class InventoryImportView(APIView):
    """Import an inventory file (operators only)."""

    permission_classes = [IsOperator]
    parser_classes = [InventoryFileParser]
    content_negotiation_class = AcceptHeaderNegotiation

    @extend_schema(
        operation_id="inventory_import",
        request={"application/yaml": OpenApiTypes.STR, "application/json": OpenApiTypes.OBJECT},
        parameters=[
            OpenApiParameter("format", OpenApiTypes.STR, enum=["auto", *FORMATS],
                             description="the file's format; detected when auto (default)"),
            OpenApiParameter("host", OpenApiTypes.STR,
                             description="the host a `docker inspect` output comes from"),
            OpenApiParameter("filename", OpenApiTypes.STR,
                             description="name to give the file in errors"),
        ],
        responses={200: ImportSummarySerializer, 400: InventoryErrorSerializer})
    def post(self, request: Request) -> Response:
        """Make hosts and workloads match a Segscope YAML/JSON inventory, `kubectl get pods -A
        -o json` or `docker inspect` output; importing the same file again changes nothing."""
        body = request.data if isinstance(request.data, bytes) else b""
        params = request.query_params
        filename = params.get("filename") or "inventory"
        try:
            inventory = parse_inventory(body, filename, fmt=params.get("format") or "auto",
                                        host=params.get("host") or None)
        except InventoryError as exc:
            return Response({"error": exc.to_dict()}, status=status.HTTP_400_BAD_REQUEST)
        summary = apply_inventory(inventory)
        return Response(ImportSummarySerializer(summary.to_dict()).data)
