"""The audit log and the auditors' export over REST (auditors and admins)."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import viewsets
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from collectors.bundle import BundleError
from collectors.errors import ParseError
from webapp.api.permissions import IsAuditor
from webapp.audit.api.renderers import AuditEventCSVRenderer
from webapp.audit.api.serializers import AuditEventSerializer, AuditExportQuerySerializer
from webapp.audit.export import export_audit
from webapp.audit.filtersets import AuditEventFilterSet
from webapp.audit.models import AuditEvent


class AuditEventViewSet(viewsets.ReadOnlyModelViewSet[AuditEvent]):
    """Who did what, newest first: logins, agent tokens created and revoked, exports,
    what-ifs, intent uploads. `?format=csv` gives every matching event as CSV, unpaginated."""

    queryset = AuditEvent.objects.all()
    serializer_class = AuditEventSerializer
    filterset_class = AuditEventFilterSet
    permission_classes = [IsAuditor]
    renderer_classes = [JSONRenderer, BrowsableAPIRenderer, AuditEventCSVRenderer]

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        renderer = getattr(request, "accepted_renderer", None)
        if getattr(renderer, "format", None) != "csv":
            return super().list(request, *args, **kwargs)
        rows = self.filter_queryset(self.get_queryset())
        response = Response(self.get_serializer(rows, many=True).data)
        response["Content-Disposition"] = 'attachment; filename="segscope-audit-log.csv"'
        return response


class AuditExportView(APIView):
    """The audit export at a time, as a .tar.gz (auditors and admins): raw dumps, graph with
    evidence, drift, convergence, intent version, CSV tables and a SHA-256 manifest; the same
    data gives the same bytes. Check it with `segscope verify-audit FILE`."""

    permission_classes = [IsAuditor]

    @extend_schema(
        operation_id="audit_export",
        parameters=[AuditExportQuerySerializer],
        responses={(200, "application/gzip"): OpenApiResponse(
            OpenApiTypes.BINARY, description="the archive (Content-Disposition names it)"),
            409: OpenApiResponse(description="the stored data cannot be exported; `detail` "
                                             "names the file and why")})
    def get(self, request: Request) -> HttpResponse | Response:
        form = AuditExportQuerySerializer(data=request.query_params)
        form.is_valid(raise_exception=True)
        at = form.validated_data.get("at") or timezone.now()
        try:
            archive = export_audit(at, request.user, via="api")
        except (BundleError, ParseError) as exc:
            return Response({"detail": str(exc)}, status=409)
        response = HttpResponse(archive.tar_gz(), content_type="application/gzip")
        response["Content-Disposition"] = f'attachment; filename="{archive.name}.tar.gz"'
        return response
