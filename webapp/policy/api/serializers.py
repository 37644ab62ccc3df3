"""Serializers of intent versions: their upload, what they say, and why one was refused."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from webapp.inventory.api.agents import RawTextField
from webapp.policy.models import IntentVersion


class AllowSerializer(serializers.Serializer[Any]):
    """An intended allow: from a segment or `cidr:NETWORK`, to one, on ports (`tcp/5432`)."""

    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        # `from` is a Python keyword: it cannot be declared as an attribute.
        return {"from": serializers.CharField(source="source"),
                "to": serializers.CharField(source="destination"),
                "ports": serializers.ListField(child=serializers.CharField())}


class IntentVersionSerializer(serializers.ModelSerializer[IntentVersion]):
    """An intent version and what it says: segments (label selectors), allows, default."""

    segments = serializers.DictField(
        child=serializers.DictField(child=serializers.CharField()), source="intent.segments",
        read_only=True, help_text="segment name -> label selector")
    allows = AllowSerializer(many=True, source="intent.allows", read_only=True)
    default = serializers.CharField(source="intent.default", read_only=True)

    class Meta:
        model = IntentVersion
        fields = ["id", "version", "kind", "sha256", "published_at", "uploaded_at", "segments",
                  "allows", "default"]
        read_only_fields = fields


class IntentUploadSerializer(serializers.Serializer[Any]):
    """A Segscope intent document to store as a version; `published_at` may be in it."""

    # Its form is checked by the service, which answers in the same shape as for the text.
    version = serializers.CharField(help_text="the version's name, e.g. v3: letters, digits, "
                                    "'.', '_' and '-'")
    text = RawTextField(help_text="the Segscope YAML (or JSON) document, stored as given")


class IntentErrorDetailSerializer(serializers.Serializer[Any]):
    """Why a version was not stored: the field path in the document and the reason."""

    version = serializers.CharField()
    path = serializers.CharField()
    reason = serializers.CharField()


class IntentErrorSerializer(serializers.Serializer[Any]):
    """An intent version that was not stored."""

    error = IntentErrorDetailSerializer()
