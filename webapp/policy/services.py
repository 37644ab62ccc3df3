"""Policy services: reading an intent document and storing it as a version, once."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from typing import Any

from django.utils import timezone

from collectors.intent import IntentError, with_published_at
from collectors.inventory import InventoryError
from collectors.netpol import NetworkPolicyIntent
from collectors.policies import AnyIntent, read_intent_document
from webapp.policy.models import IntentVersion
from webapp.policy.models.intents import MAX_VERSION_LENGTH

# A version becomes a file name in exported bundles (intent/<version>.yaml).
VERSION_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


class IntentRejected(ValueError):
    """An intent document that was not stored: its version, the field path and why."""

    def __init__(self, version: str, path: str, reason: str) -> None:
        super().__init__(f"{version}: {path}: {reason}" if path else f"{version}: {reason}")
        self.version, self.path, self.reason = version, path, reason

    def to_dict(self) -> dict[str, str]:
        return {"version": self.version, "path": self.path, "reason": self.reason}


class IntentConflict(IntentRejected):
    """A version that is already stored with another text."""


def check_version(version: str) -> None:
    """Raise IntentRejected unless `version` can name a version (and a file)."""
    if len(version) > MAX_VERSION_LENGTH or not VERSION_PATTERN.fullmatch(version):
        raise IntentRejected(version, "version", f"a version is 1 to {MAX_VERSION_LENGTH} "
                             "letters, digits, '.', '_' or '-', starting with a letter or digit")


def read_intent(version: str, text: str) -> AnyIntent:
    """A Segscope intent or Kubernetes NetworkPolicy document; raises IntentRejected naming
    the field that is wrong."""
    check_version(version)
    try:
        return read_intent_document(text, version, version)
    except InventoryError as exc:  # YAML or JSON syntax, from the shared loader
        raise IntentRejected(version, "", exc.reason) from None
    except IntentError as exc:
        raise IntentRejected(version, exc.path, exc.reason) from None


def intent_of(row: IntentVersion) -> AnyIntent:
    """What a stored version says."""
    return read_intent(row.version, row.text)


def sha256_of(text: str) -> str:
    """The hex SHA-256 of a text's UTF-8 bytes."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def store_intent(version: str, text: str, *, intent: AnyIntent | None = None,
                 published_default: datetime | None = None,
                 now: datetime | None = None) -> tuple[IntentVersion, bool]:
    """Store a version of the intent once: (row, True) when it is new, (row, False) when the
    same version with the same text is stored already. Published at the document's
    `published_at`, else `published_default`, else now. Raises IntentRejected for a bad
    document and IntentConflict when the version is stored with another text."""
    intent = intent if intent is not None else read_intent(version, text)
    check_version(version)
    now = now or timezone.now()
    digest = sha256_of(text)
    defaults: dict[str, Any] = {
        "kind": (IntentVersion.Kind.NETWORKPOLICY if isinstance(intent, NetworkPolicyIntent)
                 else IntentVersion.Kind.SEGSCOPE), "text": text, "sha256": digest,
        "published_at": intent.published_at or published_default or now, "uploaded_at": now}
    # The unique version decides a race between two uploads: get_or_create retries the read.
    row, created = IntentVersion.objects.get_or_create(version=version, defaults=defaults)
    if not created and row.sha256 != digest and not _exported(row, text):
        raise IntentConflict(version, "text", f"version {version!r} is stored with other text "
                             f"(sha256 {row.sha256[:12]}…); publish a new version instead")
    return row, created


def exported_text(row: IntentVersion) -> str:
    """A version as a bundle carries it: Segscope documents say when they were published;
    Kubernetes objects have no place for it and go as uploaded."""
    if row.kind == IntentVersion.Kind.NETWORKPOLICY:
        return row.text
    return with_published_at(row.text, row.published_at)


def _exported(row: IntentVersion, text: str) -> bool:
    """Whether `text` is the stored version as an export writes it (published_at added)."""
    if row.kind == IntentVersion.Kind.NETWORKPOLICY:
        return False
    try:
        return with_published_at(row.text, row.published_at) == text
    except ValueError:
        return False


def published_by(at: datetime) -> list[IntentVersion]:
    """Every version published at or before `at`, oldest first."""
    return list(IntentVersion.objects.filter(published_at__lte=at).order_by("published_at", "id"))
