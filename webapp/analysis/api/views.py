"""Explain a flow, and the effective graph, drift and convergence over REST."""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from webapp.analysis.api.serializers import (
    CostQuerySerializer,
    CostSerializer,
    DriftFindingSerializer,
    DriftQuerySerializer,
    ExplainRequestSerializer,
    GenerationSerializer,
    GraphEdgeSerializer,
    GraphQuerySerializer,
)
from webapp.analysis.results import (
    GraphQuery,
    cost_report,
    drift_findings,
    generations,
    graph_entries,
    parse_port,
)
from webapp.analysis.services import NoSnapshot, explain_flow
from webapp.api.pagination import entries_pagination
from webapp.engine.packet import Packet
from webapp.engine.values import ValueParseError
from webapp.inventory.models import Host
from webapp.rules.models import Snapshot


class ExplainView(APIView):
    """Which host, table, chain and rule decide a flow, with counters and the full trace."""

    @extend_schema(request=ExplainRequestSerializer,
                   responses={200: OpenApiResponse(description="verdict, decided_by, trace, nat"),
                              404: OpenApiResponse(description="no such host or snapshot"),
                              409: OpenApiResponse(description="the host has sent no rules")})
    def post(self, request: Request) -> Response:
        form = ExplainRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        fields = dict(form.validated_data)
        host = get_object_or_404(Host, name=fields.pop("host"))
        hook = fields.pop("hook")
        snapshot_id = fields.pop("snapshot", None)
        snapshot = (get_object_or_404(Snapshot.objects.defer("dumps"), pk=snapshot_id, host=host)
                    if snapshot_id is not None else None)
        try:
            result = explain_flow(host, Packet(**fields), hook, snapshot)
        except NoSnapshot as exc:
            return Response({"detail": str(exc)}, status=409)
        except (ValueParseError, ValueError) as exc:
            return Response({"detail": str(exc)}, status=400)
        return Response(result.to_dict())


def _query(serializer_class: type[Any], request: Request) -> dict[str, Any]:
    form = serializer_class(data=request.query_params)
    form.is_valid(raise_exception=True)
    return dict(form.validated_data)


class GraphView(generics.ListAPIView):
    """Effective edges: who can reach whom on which ports, with the deciding rules."""

    serializer_class = GraphEdgeSerializer
    pagination_class = entries_pagination("edges")
    filter_backends: list[Any] = []

    def get_queryset(self) -> Any:
        fields = _query(GraphQuerySerializer, self.request)
        port = fields.pop("port", None)
        try:
            parsed = parse_port(port) if port is not None else None
        except ValueError as exc:
            raise ValidationError({"port": [str(exc)]}) from None
        return graph_entries(GraphQuery(port=parsed, **fields))

    @extend_schema(parameters=[GraphQuerySerializer])
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class DriftView(generics.ListAPIView):
    """Drift findings of the newest state: missing, excess, stale, shadowed, unused, foreign."""

    serializer_class = DriftFindingSerializer
    pagination_class = entries_pagination("findings")
    filter_backends: list[Any] = []

    def get_queryset(self) -> Any:
        return drift_findings(**_query(DriftQuerySerializer, self.request))

    @extend_schema(parameters=[DriftQuerySerializer])
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class ConvergenceView(generics.ListAPIView):
    """Per generation, when each host reached its desired state."""

    serializer_class = GenerationSerializer
    pagination_class = entries_pagination("generations")
    filter_backends: list[Any] = []

    def get_queryset(self) -> Any:
        return generations()


class CostView(APIView):
    """The cost of segmentation: rules, set members, flat-ACL equivalent, traversal, churn."""

    @extend_schema(parameters=[CostQuerySerializer], responses={200: CostSerializer})
    def get(self, request: Request) -> Response:
        fields = _query(CostQuerySerializer, request)
        return Response(cost_report(fields.get("at"), fields.get("host")))
