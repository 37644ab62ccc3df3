"""Intended policy: Segscope YAML segments and segment-to-segment allows with default deny."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

PORT_PROTOCOLS = ("tcp", "udp", "sctp")


class IntentError(ValueError):
    """An intent document that cannot be read; `path` names the field, like `allow[2].ports[0]`."""

    def __init__(self, filename: str, path: str, reason: str) -> None:
        super().__init__(f"{filename}: {path}: {reason}")
        self.filename, self.path, self.reason = filename, path, reason


@dataclass(frozen=True, slots=True)
class PortRange:
    """`tcp/8000-8100` as ('tcp', 8000, 8100); icmp has no ports (0-65535 stands for all)."""

    proto: str
    low: int
    high: int

    def __str__(self) -> str:
        if self.proto == "icmp":
            return "icmp"
        span = str(self.low) if self.low == self.high else f"{self.low}-{self.high}"
        return f"{self.proto}/{span}"


@dataclass(frozen=True, slots=True)
class Peer:
    """One side of an allow: a named segment, or a CIDR (`cidr:10.0.0.0/8`)."""

    segment: str | None = None
    cidr: str | None = None

    def __str__(self) -> str:
        return self.segment if self.segment is not None else f"cidr:{self.cidr}"


@dataclass(frozen=True, slots=True)
class Allow:
    """Connections from one peer to another on some ports are intended."""

    source: Peer
    destination: Peer
    ports: tuple[PortRange, ...]


@dataclass(frozen=True, slots=True)
class Intent:
    """A policy version: segments (label selectors), allows, and the default for the rest."""

    segments: Mapping[str, Mapping[str, str]]
    allows: tuple[Allow, ...]
    default: str = "deny"
    version: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "segments": {k: dict(v) for k, v in self.segments.items()},
            "allow": [{"from": str(a.source), "to": str(a.destination),
                       "ports": [str(p) for p in a.ports]} for a in self.allows],
            "default": self.default,
        }


def selector_matches(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    """A workload is in a segment when it carries every label of the selector."""
    return all(labels.get(key) == value for key, value in selector.items())


def parse_intent(data: Any, filename: str = "<intent>", version: str = "") -> Intent:
    """Read an intent document already loaded from YAML or JSON."""
    if not isinstance(data, Mapping):
        raise IntentError(filename, "(top)", "an intent is a mapping with segments and allow")
    segments = _segments(data.get("segments", {}), filename)
    allows = []
    for i, item in enumerate(data.get("allow", []) or []):
        path = f"allow[{i}]"
        if not isinstance(item, Mapping):
            raise IntentError(filename, path, "an allow is a mapping with from, to and ports")
        source = _peer(item.get("from"), segments, filename, f"{path}.from")
        destination = _peer(item.get("to"), segments, filename, f"{path}.to")
        ports = tuple(_port(p, filename, f"{path}.ports[{j}]")
                      for j, p in enumerate(item.get("ports", []) or []))
        if not ports:
            raise IntentError(filename, f"{path}.ports", "name at least one port, e.g. tcp/443")
        allows.append(Allow(source, destination, ports))
    default = data.get("default", "deny")
    if default != "deny":
        raise IntentError(filename, "default", "only 'deny' is supported")
    return Intent(segments, tuple(allows), default, version)


def _segments(raw: Any, filename: str) -> dict[str, dict[str, str]]:
    if not isinstance(raw, Mapping):
        raise IntentError(filename, "segments", "segments map names to label selectors")
    out = {}
    for name, selector in raw.items():
        if not isinstance(selector, Mapping) or not selector:
            raise IntentError(filename, f"segments.{name}", "a selector is a non-empty mapping")
        out[str(name)] = {str(k): str(v) for k, v in selector.items()}
    return out


def _peer(raw: Any, segments: Mapping[str, Any], filename: str, path: str) -> Peer:
    if not isinstance(raw, str) or not raw:
        raise IntentError(filename, path, "name a segment or cidr:NETWORK")
    if raw.startswith("cidr:"):
        try:
            return Peer(cidr=str(ipaddress.ip_network(raw[5:], strict=False)))
        except ValueError:
            raise IntentError(filename, path, f"not a network: {raw[5:]!r}") from None
    if raw not in segments:
        raise IntentError(filename, path, f"unknown segment {raw!r}")
    return Peer(segment=raw)


def _port(raw: Any, filename: str, path: str) -> PortRange:
    text = str(raw).lower()
    if text == "icmp":
        return PortRange("icmp", 0, 65535)
    proto, _, span = text.partition("/")
    if proto not in PORT_PROTOCOLS or not span:
        raise IntentError(filename, path, f"expected tcp/PORT, udp/LOW-HIGH or icmp, got {raw!r}")
    low_text, _, high_text = span.partition("-")
    try:
        low = int(low_text)
        high = int(high_text) if high_text else low
    except ValueError:
        raise IntentError(filename, path, f"not a port or range: {span!r}") from None
    if not 0 <= low <= high <= 65535:
        raise IntentError(filename, path, f"port range out of order or bounds: {span!r}")
    return PortRange(proto, low, high)
