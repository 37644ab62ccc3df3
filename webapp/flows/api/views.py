"""API views of flow ingest and flow records."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from collectors.errors import ParseError
from webapp.flows import services
from webapp.flows.api.serializers import (
    FlowReceiptSerializer,
    FlowRecordSerializer,
    FlowRejectionSerializer,
    FlowUploadSerializer,
)
from webapp.flows.filtersets import FlowRecordFilterSet
from webapp.flows.models import FlowRecord
from webapp.inventory.api.agents import (
    AGENT_ERROR_RESPONSES,
    IngestView,
    PayloadTooLarge,
    agent_host,
)


class FlowIngestView(IngestView):
    """`POST /api/ingest/flows/`: a batch of flow-log lines (docs/ingest.md)."""

    @extend_schema(
        operation_id="ingest_flows", request=FlowUploadSerializer,
        responses={202: FlowReceiptSerializer, 422: FlowRejectionSerializer,
                   **AGENT_ERROR_RESPONSES})
    def post(self, request: Request) -> Response:
        """Parse, aggregate and store a batch atomically; bad lines are reported, not fatal."""
        upload = FlowUploadSerializer(data=request.data)
        upload.is_valid(raise_exception=True)
        data = upload.validated_data
        try:
            batch, created = services.ingest_flows(
                agent_host(request), data["source"], data["filename"], data["text"])
        except services.TooManyLines as exc:
            raise PayloadTooLarge("SEGSCOPE_MAX_FLOW_BATCH", exc.maximum, str(exc)) from None
        except ParseError as exc:
            return Response({"error": exc.to_dict()},
                            status=status.HTTP_422_UNPROCESSABLE_ENTITY)
        return Response(FlowReceiptSerializer({
            "accepted": batch.accepted, "written": batch.written, "bad_lines": batch.bad_lines,
            "bad_line_count": batch.bad_line_count, "source_format": batch.source_format,
            "status": "created" if created else "seen-again"}).data,
            status=status.HTTP_202_ACCEPTED)


class FlowRecordViewSet(viewsets.ReadOnlyModelViewSet[FlowRecord]):
    """Flow records, newest bucket first."""

    queryset = FlowRecord.objects.select_related("host")
    serializer_class = FlowRecordSerializer
    filterset_class = FlowRecordFilterSet
