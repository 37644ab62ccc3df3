"""The service matrix over REST: `POST /api/service-matrix/`, answering the CLI's JSON."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from collectors.errors import ParseError
from webapp.analysis.matrix import snapshot_service_matrix
from webapp.analysis.services import NoSnapshot
from webapp.engine.matrix.service import CHAINS, DEFAULT_SPORT, MatrixRequest
from webapp.engine.values import ValueParseError
from webapp.inventory.models import Host
from webapp.rules.models import Snapshot


class ServiceMatrixRequestSerializer(serializers.Serializer):
    """A host's chain, protocol and port, and an optional interface assumption."""

    host = serializers.CharField()
    snapshot = serializers.IntegerField(required=False, help_text="default: the latest")
    table = serializers.CharField(default="filter")
    chain = serializers.ChoiceField(choices=CHAINS)
    proto = serializers.CharField(default="tcp")
    dport = serializers.IntegerField(min_value=0, max_value=65535)
    sport = serializers.IntegerField(default=DEFAULT_SPORT, min_value=0, max_value=65535)
    ipassmt = serializers.CharField(
        required=False, allow_blank=True, max_length=100_000,
        help_text="fffuu's format: `IFACE = [A, A/LEN, A-B]` or `IFACE = all_but_those_ips [..]`"
                  " lines; default `lo = [127.0.0.0/8]` (`::1/128` for IPv6)")


ServiceMatrixSerializer = inline_serializer("ServiceMatrix", {
    "classes": serializers.DictField(child=serializers.ListField(child=serializers.CharField()),
                                     help_text="class name (its first address) to FIRST-LAST"),
    "edges": serializers.ListField(child=serializers.ListField(child=serializers.CharField()),
                                   help_text="[from class, to class] pairs that may connect"),
})


class ServiceMatrixView(APIView):
    """Address classes a chain treats alike for one protocol and port, and who reaches whom."""

    @extend_schema(request=ServiceMatrixRequestSerializer,
                   responses={200: ServiceMatrixSerializer,
                              400: OpenApiResponse(description="a value cannot be read"),
                              404: OpenApiResponse(description="no such host or snapshot"),
                              409: OpenApiResponse(description="the host has sent no rules")})
    def post(self, request: Request) -> Response:
        form = ServiceMatrixRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        fields = dict(form.validated_data)
        host = get_object_or_404(Host, name=fields["host"])
        snapshot_id = fields.get("snapshot")
        snapshot = (get_object_or_404(Snapshot, pk=snapshot_id, host=host)
                    if snapshot_id is not None else None)
        ask = MatrixRequest(fields["chain"], fields["proto"], fields["dport"], fields["sport"],
                            fields["table"], fields.get("ipassmt") or None)
        try:
            matrix = snapshot_service_matrix(host, ask, snapshot)
        except NoSnapshot as exc:
            return Response({"detail": str(exc)}, status=409)
        except (ParseError, ValueParseError, ValueError) as exc:
            return Response({"detail": str(exc)}, status=400)
        return Response(matrix.to_dict())
