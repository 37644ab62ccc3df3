"""Flow records a host dropped while it had not converged: the cost of a slow roll-out."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from collectors.flowlogs import FlowRecord
from webapp.engine.analysis.drift import _iso
from webapp.engine.analysis.generations import Generation

_NAMES = {6: "tcp", 17: "udp", 1: "icmp", 58: "icmp"}


class DropLedger:
    """Dropped flow records by observing host, matched to workloads by address."""

    def __init__(self, records: Mapping[str, Iterable[FlowRecord]]) -> None:
        self.by_host = {host: sorted((r for r in rows if r.verdict in ("DROP", "REJECT")),
                                     key=lambda r: r.start)
                        for host, rows in records.items()}

    def __call__(self, host: str, generation: Generation,
                 converged_at: datetime | None) -> list[Mapping[str, Any]]:
        """Drops at `host` from the generation's opening until it converged, of connections
        the generation intends to allow, grouped by workload pair and port."""
        owner = {}
        for workload in generation.workloads:
            for text in workload.addresses:
                owner[str(ipaddress.ip_address(text))] = workload.name
        grouped: dict[tuple[str, str, str, int | None], dict[str, Any]] = {}
        opened = generation.opening.at
        for record in self.by_host.get(host, ()):
            if record.start < opened or (converged_at is not None
                                         and record.start >= converged_at):
                continue
            src, dst = owner.get(record.src), owner.get(record.dst)
            proto = _NAMES.get(record.proto or -1)
            if src is None or dst is None or proto is None:
                continue
            intended = generation.intended.get((src, dst))
            port = record.dport if proto != "icmp" else None
            if intended is None or not intended.contains(proto, port):
                continue
            key = (src, dst, proto, port)
            entry = grouped.get(key)
            if entry is None:
                entry = grouped[key] = {
                    "host": host, "workloads": [src, dst], "src": record.src,
                    "dst": record.dst, "proto": proto, "dport": port, "packets": 0,
                    "records": 0, "first": _iso(record.start), "last": _iso(record.start)}
            entry["packets"] += record.packets
            entry["records"] += 1
            entry["last"] = _iso(record.start)
        return [grouped[key] for key in sorted(grouped, key=lambda k: (k[0], k[1], k[2],
                                                                       k[3] or 0))]
