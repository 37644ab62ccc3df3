"""What a netfilter log prefix and a packet's interfaces say about verdict and direction."""

from __future__ import annotations

import re

# LOG and NFLOG never decide a packet's fate; rule authors say it in the prefix
# ("DROP ", "Shorewall:net2fw:REJECT:", "DRP:INP "). Only a prefix naming exactly one verdict
# counts; anything else ("ICMP", "TRACE: filter:INPUT:rule:3") leaves the verdict unknown.
_VERDICT_WORDS = {
    "DROP": "DROP", "DROPPED": "DROP", "DRP": "DROP", "DENY": "DROP", "DENIED": "DROP",
    "BLOCK": "DROP", "BLOCKED": "DROP",
    "REJECT": "REJECT", "REJECTED": "REJECT", "REJ": "REJECT",
    "ACCEPT": "ACCEPT", "ACCEPTED": "ACCEPT", "ALLOW": "ACCEPT", "ALLOWED": "ACCEPT",
    "PASS": "ACCEPT",
}
_WORD = re.compile(r"[A-Za-z]+")


def verdict_from_prefix(prefix: str | None) -> str | None:
    """ACCEPT, DROP or REJECT if the log prefix names exactly one of them, else None."""
    if not prefix:
        return None
    found = {_VERDICT_WORDS.get(word.upper()) for word in _WORD.findall(prefix)}
    found.discard(None)
    return found.pop() if len(found) == 1 else None


def direction_from_interfaces(in_iface: str | None, out_iface: str | None) -> str | None:
    """ingress (IN only), egress (OUT only) or forward (both), as netfilter logs them."""
    if in_iface and out_iface:
        return "forward"
    if in_iface:
        return "ingress"
    if out_iface:
        return "egress"
    return None
