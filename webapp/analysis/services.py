"""Explain a flow on a host from the rules in its latest (or a given) snapshot."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from threading import Lock
from typing import Any

from webapp.engine.explanation import Explanation
from webapp.engine.host import HostRules, load_host
from webapp.engine.packet import Packet
from webapp.inventory.models import Host
from webapp.rules.models import Snapshot

# Compiled rule sets by snapshot hash: compiling a large table costs far more than explaining.
_CACHE: OrderedDict[str, HostRules] = OrderedDict()
_CACHE_SIZE = 64
_LOCK = Lock()


class NoSnapshot(LookupError):
    """The host has sent no rules yet."""


@dataclass(frozen=True, slots=True)
class FlowExplanation:
    """An explanation with the evidence it rests on: which host and which snapshot."""

    host: str
    hook: str
    snapshot: Snapshot
    packet: Packet
    explanation: Explanation

    def to_dict(self) -> dict[str, Any]:
        return {
            "host": self.host, "hook": self.hook, "packet": self.packet.to_dict(),
            "snapshot": {"id": self.snapshot.pk, "hash": self.snapshot.content_hash,
                         "collected_at": self.snapshot.collected_at.isoformat()},
            **self.explanation.to_dict(),
        }


def host_rules(snapshot: Snapshot) -> HostRules:
    """The compiled tables of a snapshot, from the cache when it was compiled before."""
    key = snapshot.content_hash
    with _LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    dumps = snapshot.dumps
    rules = load_host(iptables=dumps.get("iptables-save"), ip6tables=dumps.get("ip6tables-save"),
                      ipset=dumps.get("ipset-save"), nft_json=dumps.get("nft.json"))
    with _LOCK:
        _CACHE[key] = rules
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return rules


def explain_flow(host: Host, packet: Packet, hook: str = "INPUT",
                 snapshot: Snapshot | None = None) -> FlowExplanation:
    """Verdict, deciding rule and trace for one packet on one host."""
    if snapshot is None:
        # The raw dumps are read only when the compiled rules are not cached yet.
        snapshot = host.snapshots.defer("dumps").order_by("-collected_at", "-id").first()
        if snapshot is None:
            raise NoSnapshot(f"host {host.name} has sent no rules yet")
    explanation = host_rules(snapshot).explain(packet, hook)
    return FlowExplanation(host.name, hook.upper(), snapshot, packet, explanation)
