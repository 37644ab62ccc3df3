"""The fleet an analysis looks at: hosts with their loaded rules, and the workloads on them."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any

from webapp.engine.host import HostRules, load_host
from webapp.engine.values import parse_address

# The interface a host's traffic to and from other hosts crosses, unless the host says another
# (`uplink` label); cloud and lab hosts name it eth0.
DEFAULT_UPLINK = "eth0"
UPLINK_LABEL = "segscope.io/uplink"
DUMP_NAMES = ("iptables-save", "ip6tables-save", "ipset-save", "nft.json")


def _frozen(mapping: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True, slots=True)
class Workload:
    """A workload as the analysis sees it: where it lives, how it is attached, what it carries."""

    name: str
    host: str
    addresses: tuple[str, ...] = ()
    attachment: str = "bridged"
    interface: str = ""
    labels: Mapping[str, str] = field(default_factory=lambda: _frozen(None))
    started_at: datetime | None = None
    stopped_at: datetime | None = None
    ports: Mapping[str, tuple[str, int]] = field(default_factory=lambda: _frozen(None))

    def address(self, family: int) -> str | None:
        """The workload's first address of an IP version (the one probes use)."""
        for text in self.addresses:
            if (":" in text) == (family == 6):
                return text
        return None

    def live_at(self, at: datetime | None) -> bool:
        if at is None:
            return self.stopped_at is None
        started = self.started_at is None or self.started_at <= at
        return started and (self.stopped_at is None or at < self.stopped_at)

    @classmethod
    def from_entry(cls, entry: Any) -> Workload:
        """From an inventory WorkloadEntry (or anything with its attributes)."""
        return cls(entry.name, entry.host, tuple(entry.addresses), entry.attachment,
                   entry.interface or "", _frozen(entry.labels),
                   getattr(entry, "started_at", None), getattr(entry, "stopped_at", None),
                   _frozen(getattr(entry, "ports", None)))


@dataclass(slots=True)
class HostState:
    """One host at one time: its newest snapshot's rules (None: no snapshot yet)."""

    name: str
    addresses: tuple[str, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    rules: HostRules | None = None
    collected_at: datetime | None = None
    snapshot_hash: str | None = None

    @property
    def uplink(self) -> str:
        return self.labels.get(UPLINK_LABEL, DEFAULT_UPLINK)


@dataclass(slots=True)
class Fleet:
    """Hosts and the workloads live on them at one time. A host without a snapshot filters
    nothing (`unreported_open`, a bundle's view), or lets nothing through yet (the server's
    while a fleet reports in: else every pair of the silent hosts' workloads is allowed)."""

    hosts: dict[str, HostState]
    workloads: tuple[Workload, ...]
    at: datetime | None = None
    unreported_open: bool = True

    def workload(self, name: str) -> Workload:
        for workload in self.workloads:
            if workload.name == name:
                return workload
        raise KeyError(f"no workload named {name!r}")

    def on_host(self, host: str) -> list[Workload]:
        return [w for w in self.workloads if w.host == host]


def dumps_hash(dumps: Mapping[str, str]) -> str:
    """SHA-256 over the dumps by name, as ingest computes a snapshot's content hash."""
    digest = hashlib.sha256()
    for name in sorted(dumps):
        digest.update(name.encode() + b"\0" + dumps[name].encode() + b"\0")
    return digest.hexdigest()


def load_host_state(name: str, dumps: Mapping[str, str], collected_at: datetime | None,
                    addresses: Iterable[str] = (), local_workloads: Iterable[Workload] = (),
                    labels: Mapping[str, str] | None = None,
                    snapshot_hash: str | None = None) -> HostState:
    """Parse and compile one snapshot's dumps; a malformed dump raises ParseError."""
    local = set()
    for text in (*addresses, *(a for w in local_workloads if w.attachment == "host"
                                for a in w.addresses)):
        local.add(parse_address(text)[1])
    rules = None
    if any(dumps.get(n) for n in DUMP_NAMES):
        rules = load_host(iptables=dumps.get("iptables-save") or None,
                          ip6tables=dumps.get("ip6tables-save") or None,
                          ipset=dumps.get("ipset-save") or None,
                          nft_json=dumps.get("nft.json") or None,
                          names=tuple(f"hosts/{name}/{n}" for n in DUMP_NAMES),
                          local_addresses=frozenset(local) or None)
    # The dump texts are not kept: a thousand hosts' worth is better left to whoever has them.
    return HostState(name, tuple(addresses), dict(labels or {}), rules, collected_at,
                     snapshot_hash or (dumps_hash(dumps) if dumps else None))
