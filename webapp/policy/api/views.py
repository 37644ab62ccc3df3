"""API views of intent versions."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from webapp.audit.models import AuditEvent
from webapp.audit.services import record_event
from webapp.inventory.api.agents import BoundedJSONParser, LimitErrorSerializer
from webapp.inventory.api.permissions import IsOperatorOrReadOnly
from webapp.policy.api.serializers import (
    IntentErrorSerializer,
    IntentUploadSerializer,
    IntentVersionSerializer,
)
from webapp.policy.models import IntentVersion
from webapp.policy.services import IntentConflict, IntentRejected, store_intent


class IntentVersionViewSet(mixins.CreateModelMixin,
                           viewsets.ReadOnlyModelViewSet[IntentVersion]):
    """Intent versions, newest first: everyone reads, operators publish."""

    queryset = IntentVersion.objects.all()
    serializer_class = IntentVersionSerializer
    permission_classes = [IsOperatorOrReadOnly]
    parser_classes = [BoundedJSONParser]

    @extend_schema(
        request=IntentUploadSerializer,
        responses={
            201: IntentVersionSerializer,
            200: OpenApiResponse(IntentVersionSerializer,
                                 description="this version with this text is stored already"),
            400: OpenApiResponse(
                # IntentError is the 409's component, ErrorDetail every view's (webapp.api.schema).
                {"anyOf": [{"$ref": "#/components/schemas/IntentError"},
                           {"$ref": "#/components/schemas/ErrorDetail"},
                           {"type": "object", "additionalProperties": {
                               "type": "array", "items": {"type": "string"}}}]},
                description="a document that cannot be read (`error`, whose `path` names the "
                            "field), a body that is not JSON (`detail`), or one without "
                            "`version` or `text` (messages by field)"),
            409: OpenApiResponse(IntentErrorSerializer,
                                 description="the version is stored with other text"),
            413: LimitErrorSerializer,
        })
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Publish a Segscope intent document as a version; the same again changes nothing."""
        upload = IntentUploadSerializer(data=request.data)
        upload.is_valid(raise_exception=True)
        try:
            row, created = store_intent(upload.validated_data["version"],
                                        upload.validated_data["text"])
        except IntentConflict as exc:
            return Response({"error": exc.to_dict()}, status=status.HTTP_409_CONFLICT)
        except IntentRejected as exc:
            return Response({"error": exc.to_dict()}, status=status.HTTP_400_BAD_REQUEST)
        record_event(request.user, AuditEvent.Action.INTENT_UPLOAD, version=row.version,
                     sha256=row.sha256, created=created)
        return Response(self.get_serializer(row).data,
                        status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)
