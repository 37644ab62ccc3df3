"""The flow record every flow-log format is parsed into."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from collectors.flowlogs.values import PROTOCOL_NAMES, address, epoch_from_iso, utc

VERDICTS = frozenset({"ACCEPT", "DROP", "REJECT"})
DIRECTIONS = frozenset({"ingress", "egress", "forward"})


@dataclass(frozen=True, slots=True)
class FlowRecord:
    """One flow (or packet) seen by one observer: time window, 5-tuple, counters, verdict, rule."""

    start: datetime  # timezone-aware UTC; sources without a clock of their own use `observed_at`
    end: datetime
    src: str  # canonical address spelling (ipaddress), IPv4 or IPv6
    dst: str
    proto: int | None  # IANA number; None only where the source omits it (AWS custom formats)
    sport: int | None = None  # None where the protocol has no ports (ICMP) or the source omits them
    dport: int | None = None
    icmp_type: int | None = None
    icmp_code: int | None = None
    # Where the source gives no counters a record stands for at least one packet of unknown size,
    # hence the defaults 1 and 0. Sources that report both directions of a connection
    # (conntrack, Azure NSG v2) are summed over both.
    packets: int = 1
    bytes: int = 0
    verdict: str | None = None  # ACCEPT | DROP | REJECT in the kernel's sense; None if not known
    direction: str | None = None  # ingress | egress | forward, seen from the observer
    observer: str | None = None  # host name, interface (ENI, MAC) or VM that logged the flow
    rule_ref: str | None = None  # LOG/NFLOG prefix, NSG rule, Hubble policy or drop reason
    source_format: str = ""  # the parser module that produced it, e.g. "aws_vpc"

    def __str__(self) -> str:
        proto = PROTOCOL_NAMES.get(self.proto, str(self.proto)) if self.proto is not None else "?"
        if self.icmp_type is not None:
            what = f"{proto} type {self.icmp_type}/{self.icmp_code}"
            src, dst = self.src, self.dst
        else:
            what = proto
            src = _endpoint(self.src, self.sport)
            dst = _endpoint(self.dst, self.dport)
        parts = [self.start.strftime("%Y-%m-%dT%H:%M:%SZ"), f"{src} -> {dst}", what,
                 self.verdict or "verdict unknown", f"{self.packets} pkt {self.bytes} B"]
        if self.rule_ref:
            parts.append(f"rule {self.rule_ref!r}")
        if self.observer:
            parts.append(f"at {self.observer}")
        return " ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": self.start.isoformat(), "end": self.end.isoformat(),
            "src": self.src, "dst": self.dst, "proto": self.proto,
            "sport": self.sport, "dport": self.dport,
            "icmp_type": self.icmp_type, "icmp_code": self.icmp_code,
            "packets": self.packets, "bytes": self.bytes, "verdict": self.verdict,
            "direction": self.direction, "observer": self.observer, "rule_ref": self.rule_ref,
            "source_format": self.source_format,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FlowRecord:
        """The record `to_dict` wrote; raises ValueError naming the first bad field."""
        verdict = data.get("verdict")
        if verdict is not None and verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {sorted(VERDICTS)}, not {verdict!r}")
        direction = data.get("direction")
        if direction is not None and direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {sorted(DIRECTIONS)}, not {direction!r}")
        return cls(
            start=utc(epoch_from_iso(data["start"])), end=utc(epoch_from_iso(data["end"])),
            src=address(data["src"]), dst=address(data["dst"]),
            proto=_optional_int(data, "proto"), sport=_optional_int(data, "sport"),
            dport=_optional_int(data, "dport"), icmp_type=_optional_int(data, "icmp_type"),
            icmp_code=_optional_int(data, "icmp_code"),
            packets=_int(data, "packets", 1), bytes=_int(data, "bytes", 0),
            verdict=verdict, direction=direction,
            observer=_optional_str(data, "observer"), rule_ref=_optional_str(data, "rule_ref"),
            source_format=str(data.get("source_format", "")),
        )


def _endpoint(addr: str, port: int | None) -> str:
    if port is None:
        return addr
    return f"[{addr}]:{port}" if ":" in addr else f"{addr}:{port}"


def _optional_int(data: dict[str, Any], key: str) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{key} must be an integer or null, not {value!r}")
    return value


def _int(data: dict[str, Any], key: str, default: int) -> int:
    value = _optional_int(data, key)
    return default if value is None else value


def _optional_str(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{key} must be a string or null, not {value!r}")
    return value
