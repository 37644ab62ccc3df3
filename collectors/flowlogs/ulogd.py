"""ulogd2 JSON output (NFLOG packets, one JSON object per line); the NFLOG prefix is the rule
reference."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from collectors.flowlogs import jsondoc
from collectors.flowlogs.jsondoc import get
from collectors.flowlogs.logprefix import direction_from_interfaces, verdict_from_prefix
from collectors.flowlogs.parsing import ParseOptions, Report, Row, Source, as_text, run
from collectors.flowlogs.result import ParseResult
from collectors.flowlogs.values import (
    ICMP_PROTOCOLS,
    address,
    count,
    epoch,
    epoch_from_iso,
    integer,
    optional,
    port,
    protocol,
    small,
    text_or_none,
)

SOURCE_FORMAT = "ulogd"
_ACTIONS = {"allowed": "ACCEPT", "blocked": "DROP"}  # set when numeric_label is configured
_HOOKS = {1: "ingress", 2: "forward", 3: "egress"}  # INPUT, FORWARD, OUTPUT


def parse(source: Source, filename: str, *, observed_at: datetime | None = None) -> ParseResult:
    """Flow records of ulogd2 JSON lines, one per logged packet."""
    return run(iter_rows, source, filename, ParseOptions.of(observed_at), SOURCE_FORMAT)


def iter_rows(source: Source, report: Report, options: ParseOptions) -> Iterator[Row]:
    for line, doc in jsondoc.documents(as_text(source), report):
        if not isinstance(doc, dict):
            report.error(line, "not a JSON object")
            continue
        try:
            yield _row(doc, options)
        except (ValueError, TypeError, OverflowError) as exc:
            report.error(line, str(exc))


def _row(doc: dict[str, Any], options: ParseOptions) -> Row:
    src_text = get(doc, "src_ip", "ip.saddr.str")
    dst_text = get(doc, "dest_ip", "ip.daddr.str")
    if src_text is None or dst_text is None:
        raise ValueError("packet has no src_ip/dest_ip (is IP2STR in the ulogd stack?)")
    proto_value = get(doc, "ip.protocol", "ip6.nexthdr")
    proto = None if proto_value is None else protocol(proto_value)
    sport = dport = icmp_type = icmp_code = None
    if proto in ICMP_PROTOCOLS:
        kind = "icmp" if proto == 1 else "icmpv6"
        icmp_type = optional(doc.get(f"{kind}.type"), small)
        icmp_code = optional(doc.get(f"{kind}.code"), small)
    else:
        sport = optional(get(doc, "src_port", "tcp.sport", "udp.sport", "sctp.sport"), port)
        dport = optional(get(doc, "dest_port", "tcp.dport", "udp.dport", "sctp.dport"), port)
    seconds = doc.get("oob.time.sec")
    if seconds is not None:
        at = epoch(integer(seconds) + integer(doc.get("oob.time.usec", 0)) / 1e6)
    elif doc.get("timestamp") is not None:
        at = epoch_from_iso(doc["timestamp"])
    elif options.observed_at is not None:
        at = options.observed_at
    else:
        raise ValueError("packet has no oob.time.sec or timestamp; pass observed_at")
    prefix = doc.get("oob.prefix")
    rule_ref = (prefix.strip() or None) if isinstance(prefix, str) else None
    action = doc.get("action")
    verdict = _ACTIONS.get(action) if isinstance(action, str) else None
    if verdict is None:
        verdict = verdict_from_prefix(rule_ref)
    hook = doc.get("oob.hook")
    direction = _HOOKS.get(hook) if isinstance(hook, int) else None
    if direction is None:
        direction = direction_from_interfaces(text_or_none(doc.get("oob.in")),
                                              text_or_none(doc.get("oob.out")))
    return (at, at, address(src_text), address(dst_text), proto, dport, icmp_type, icmp_code,
            verdict, rule_ref, text_or_none(doc.get("dvc")), sport,
            count(doc.get("raw.pktcount", 1)), count(get(doc, "raw.pktlen", "ip.totlen") or 0),
            direction)
