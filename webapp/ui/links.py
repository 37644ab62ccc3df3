"""Where the pages link: a workload, a host and a rule's row on its host's page."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any
from urllib.parse import quote

from django.urls import reverse


@lru_cache(maxsize=8)
def _prefix(view: str) -> str:
    """The path before a page's name: lists link thousands of rows, and `reverse` for each
    would cost more than the rest of the page."""
    path = reverse(view, args=["-"])
    return path[:path.rindex("-")]


def workload_url(name: str) -> str:
    """The workload's page."""
    return f"{_prefix('ui:workload')}{quote(name)}/"


def host_url(name: str, rule: Mapping[str, Any] | None = None, family: str = "ipv4") -> str:
    """The host page, at a rule's row when one is given (table, chain, rule_number)."""
    url = f"{_prefix('ui:host')}{quote(name)}/"
    if rule and rule.get("rule_number"):
        url += "#" + quote(rule_anchor(family, rule["table"], rule["chain"],
                                       rule["rule_number"]))
    return url


def rule_anchor(family: str, table: str, chain: str, number: int) -> str:
    """The HTML id of a rule's row on the host page."""
    return f"rule-{family}-{table}-{chain}-{number}"


def chain_anchor(family: str, table: str, chain: str) -> str:
    """The HTML id of an iptables chain on the host page (ipv4, ipv6)."""
    return f"chain-{family}-{table}-{chain}"


def nft_anchor(family: str, table: str, chain: str) -> str:
    """The HTML id of an nft chain on the host page (nft families: ip, ip6, inet, ...)."""
    return f"nft-{family}-{table}-{chain}"


def decision_url(name: str, decided: Mapping[str, Any], family: str = "ipv4") -> str:
    """The host page at what decided a packet (explain's `decided_by`): an iptables rule's
    row, an iptables chain for its policy, or an nft chain."""
    table, chain = decided["table"], decided["chain"]
    if decided.get("family"):
        anchor = nft_anchor(decided["family"], table, chain)
    elif decided.get("policy") or not decided.get("rule_number"):
        anchor = chain_anchor(family, table, chain)
    else:
        anchor = rule_anchor(family, table, chain, decided["rule_number"])
    return reverse("ui:host", args=[name]) + "#" + quote(anchor)
