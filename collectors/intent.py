"""Intended policy: Segscope YAML segments and segment-to-segment allows with default deny."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import yaml

PORT_PROTOCOLS = ("tcp", "udp", "sctp")
PUBLISHED_AT = "published_at"
_TOP_KEYS = ("segments", "allow", "default", PUBLISHED_AT)


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
    """A policy version: segments (label selectors), allows, the default for the rest, and when
    it was published (None when the document does not say)."""

    segments: Mapping[str, Mapping[str, str]]
    allows: tuple[Allow, ...]
    default: str = "deny"
    version: str = ""
    published_at: datetime | None = None

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
    unknown = sorted(str(key) for key in data if key not in _TOP_KEYS)
    if unknown:
        # A Kubernetes NetworkPolicy (apiVersion, kind, spec) lands here too: it is no Segscope
        # intent, and reading it as one would store an empty policy.
        raise IntentError(filename, unknown[0], f"unknown field; expected one of {list(_TOP_KEYS)}")
    segments = _segments(data.get("segments", {}), filename)
    allows = []
    for i, item in enumerate(_sequence(data.get("allow"), filename, "allow")):
        path = f"allow[{i}]"
        if not isinstance(item, Mapping):
            raise IntentError(filename, path, "an allow is a mapping with from, to and ports")
        source = _peer(item.get("from"), segments, filename, f"{path}.from")
        destination = _peer(item.get("to"), segments, filename, f"{path}.to")
        ports = tuple(_port(p, filename, f"{path}.ports[{j}]")
                      for j, p in enumerate(_sequence(item.get("ports"), filename,
                                                      f"{path}.ports")))
        if not ports:
            raise IntentError(filename, f"{path}.ports", "name at least one port, e.g. tcp/443")
        allows.append(Allow(source, destination, ports))
    default = data.get("default", "deny")
    if default != "deny":
        raise IntentError(filename, "default", "only 'deny' is supported")
    published = data.get(PUBLISHED_AT)
    published_at = None if published is None else _moment(published, filename, PUBLISHED_AT)
    return Intent(segments, tuple(allows), default, version, published_at)


def format_moment(at: datetime) -> str:
    """A time as ISO 8601 UTC ending in Z, with a fraction only when it has one."""
    if at.tzinfo is None:
        raise ValueError(f"{at} has no time zone")
    text = at.astimezone(UTC).isoformat()
    return text.removesuffix("+00:00") + "Z"


def with_published_at(text: str, at: datetime) -> str:
    """The intent text saying it was published at `at`: unchanged when it already has a
    `published_at`, else with that one key added and every other byte as it was."""
    original = yaml.safe_load(text)
    if not isinstance(original, Mapping):
        raise ValueError("an intent is a mapping")
    if PUBLISHED_AT in original:
        return text
    stamp = format_moment(at)
    candidates = []
    start = len(text) - len(text.lstrip("\ufeff \t\r\n"))
    if text[start:start + 1] == "{":  # JSON or a YAML flow mapping
        inside = start + 1
        separator = ", " if original else ""
        candidates.append(f'{text[:inside]}"{PUBLISHED_AT}": "{stamp}"{separator}{text[inside:]}')
    else:
        candidates.append(f"{PUBLISHED_AT}: {stamp}\n{text}")
        # After a `---` start line or `%` directives the key must follow them.
        marker = text.find("---")
        if marker >= 0:
            end = text.find("\n", marker)
            cut = len(text) if end < 0 else end + 1
            candidates.append(f"{text[:cut]}{PUBLISHED_AT}: {stamp}\n{text[cut:]}")
        tail = "" if not text or text.endswith("\n") else "\n"
        candidates.append(f"{text}{tail}{PUBLISHED_AT}: {stamp}\n")
    for candidate in candidates:
        try:
            loaded = yaml.safe_load(candidate)
        except yaml.YAMLError:
            continue
        if (isinstance(loaded, Mapping) and PUBLISHED_AT in loaded
                and {k: v for k, v in loaded.items() if k != PUBLISHED_AT} == original
                and _moment(loaded[PUBLISHED_AT], "", PUBLISHED_AT) == at):
            return candidate
    raise ValueError(f"cannot add {PUBLISHED_AT} to this intent text")


def _moment(raw: Any, filename: str, path: str) -> datetime:
    # YAML reads an unquoted time as a datetime (a date alone as a date); JSON gives text.
    if isinstance(raw, datetime):
        moment = raw
    elif isinstance(raw, date):
        raise IntentError(filename, path, "a date without a time; give an ISO 8601 time with "
                          "a zone, e.g. 2026-11-26T03:00:00Z")
    elif isinstance(raw, str):
        try:
            moment = datetime.fromisoformat(raw.strip())
        except ValueError:
            raise IntentError(filename, path, f"not an ISO 8601 time: {raw!r}") from None
    else:
        raise IntentError(filename, path, f"expected an ISO 8601 time with a zone, got {raw!r}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise IntentError(filename, path, f"{raw} has no time zone; add Z or an offset")
    return moment


def _sequence(raw: Any, filename: str, path: str) -> list[Any]:
    if not raw:  # absent, null or empty: none
        return []
    if not isinstance(raw, list):
        raise IntentError(filename, path, f"expected a list, got {type(raw).__name__}")
    return raw


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
