"""Explain a flow over REST."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from webapp.analysis.api.serializers import ExplainRequestSerializer
from webapp.analysis.services import NoSnapshot, explain_flow
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
