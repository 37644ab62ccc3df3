"""`POST /api/whatif/` and `POST /api/fix/`, answering `segscope whatif` and `segscope fix`'s
JSON on the stored fleet."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from webapp.analysis.whatif import stored_fix, stored_whatif
from webapp.api.permissions import IsOperator, IsViewer
from webapp.audit.services import record_event
from webapp.engine.analysis.changes import ChangeError


def _edges() -> serializers.ListField:
    return serializers.ListField(child=serializers.DictField(),
                                 help_text="graph edges: src, dst, allowed, evidence")


class WhatIfRequestSerializer(serializers.Serializer):
    """A change file's text, the intent files its `intent:` lines name, and the flow window."""

    change = serializers.CharField(max_length=1_000_000, help_text=(
        "lines 'HOST: iptables|ip6tables -I|-A|-D|-R ...', 'HOST: nft insert|add|delete rule "
        "...', 'HOST: ipset add|del SET MEMBER', 'intent: NAME'"))
    files = serializers.DictField(child=serializers.CharField(max_length=1_000_000),
                                  required=False, help_text="intent file NAME to its text")
    days = serializers.FloatField(default=7, min_value=0,
                                  help_text="blocked flow records of the last N days")


WhatIfSerializer = inline_serializer("WhatIf", {
    "opened": _edges(), "closed": _edges(),
    "drift_fixed": serializers.ListField(child=serializers.DictField()),
    "drift_created": serializers.ListField(child=serializers.DictField()),
    "flows_allowed": serializers.ListField(child=serializers.DictField()),
})


class FixRequestSerializer(serializers.Serializer):
    """A flow between two running workloads."""

    src = serializers.CharField()
    dst = serializers.CharField()
    proto = serializers.ChoiceField(choices=("tcp", "udp", "icmp"), default="tcp")
    dport = serializers.IntegerField(min_value=0, max_value=65535, required=False,
                                     allow_null=True)


FixCandidateSerializer = inline_serializer("FixCandidate", {
    "kind": serializers.ChoiceField(choices=("rule", "set", "intent")),
    "host": serializers.CharField(allow_null=True),
    "commands": serializers.ListField(child=serializers.CharField()),
    "on": serializers.ListField(child=serializers.CharField(allow_null=True)),
    "change": serializers.CharField(help_text="the commands as a what-if change file"),
    "opens": _edges(),
    "exposure": serializers.IntegerField(),
})
FixSerializer = inline_serializer("Fix", {
    "blocked_by": serializers.ListField(child=serializers.DictField()),
    "candidates": serializers.ListField(child=FixCandidateSerializer),
})


class WhatIfView(APIView):
    """What a proposed change would open, close, fix and let through (operators)."""

    permission_classes = [IsOperator]

    @extend_schema(request=WhatIfRequestSerializer,
                   responses={200: WhatIfSerializer,
                              400: OpenApiResponse(description="a line that cannot be read "
                                                               "or applied: change:LINE: reason")})
    def post(self, request: Request) -> Response:
        form = WhatIfRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        fields = form.validated_data
        try:
            result = stored_whatif(fields["change"], fields.get("files"), fields["days"])
        except ChangeError as exc:
            return Response({"detail": str(exc), "line": exc.line, "reason": exc.reason},
                            status=400)
        record_event(request.user, "what-if", change=fields["change"],
                     opened=len(result["opened"]), closed=len(result["closed"]))
        return Response(result)


class FixView(APIView):
    """The rules that block a flow and the smallest checked changes that would allow it."""

    permission_classes = [IsViewer]

    @extend_schema(request=FixRequestSerializer,
                   responses={200: FixSerializer,
                              400: OpenApiResponse(description="unknown workload, protocol "
                                                               "or port")})
    def post(self, request: Request) -> Response:
        form = FixRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        fields = form.validated_data
        try:
            result = stored_fix(fields["src"], fields["dst"], fields["proto"],
                                fields.get("dport"))
        except ValueError as exc:
            return Response({"detail": str(exc)}, status=400)
        return Response(result)
