"""Intent versions: each version of the intended policy, kept as its document was written."""

from __future__ import annotations

from functools import cached_property

from django.db import models
from django.utils import timezone

from collectors.policies import AnyIntent, read_intent_document

MAX_VERSION_LENGTH = 100


class IntentVersion(models.Model):
    """One published version of the intent; its text is stored once and never changed."""

    class Kind(models.TextChoices):
        SEGSCOPE = "segscope", "Segscope YAML"
        NETWORKPOLICY = "networkpolicy", "Kubernetes NetworkPolicy"

    # Unique on its own: a version names one text, so (version, sha256) is unique too, and a
    # second upload of a version is the same one (same sha256) or a conflict.
    version = models.CharField(max_length=MAX_VERSION_LENGTH, unique=True)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.SEGSCOPE)
    text = models.TextField()
    sha256 = models.CharField(max_length=64)
    published_at = models.DateTimeField()
    uploaded_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-published_at", "-id"]

    def __str__(self) -> str:
        return self.version

    @cached_property
    def intent(self) -> AnyIntent:
        """What the document says, parsed from the stored text (checked when it was stored)."""
        return read_intent_document(self.text, self.version, self.version)
