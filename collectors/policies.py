"""Any intent document: Segscope YAML, or Kubernetes NetworkPolicy objects, told apart by
their content (Kubernetes objects carry `apiVersion` and `kind`)."""

from __future__ import annotations

import re

from collectors.intent import Intent, IntentError, parse_intent
from collectors.inventory import InventoryError, load_document
from collectors.netpol import NetworkPolicyIntent, parse_network_policies

AnyIntent = Intent | NetworkPolicyIntent
_KUBERNETES = re.compile(r'^\s*(-\s*)?"?(apiVersion|kind)"?\s*:', re.MULTILINE)


def is_network_policy(text: str) -> bool:
    """Whether a document is Kubernetes objects rather than a Segscope intent."""
    return bool(_KUBERNETES.search(text)) or '"apiVersion"' in text


def read_intent_document(text: str, filename: str, version: str) -> AnyIntent:
    """Parse either kind; raises IntentError (field path) or InventoryError (syntax)."""
    if is_network_policy(text):
        return parse_network_policies(text, filename, version)
    return parse_intent(load_document(text, filename), filename, version)


__all__ = ["AnyIntent", "IntentError", "InventoryError", "is_network_policy",
           "read_intent_document"]
