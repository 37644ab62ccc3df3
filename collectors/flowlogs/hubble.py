"""Cilium Hubble flows: `hubble observe -o json` and Hubble exporter files (JSON Lines)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from collectors.flowlogs import jsondoc
from collectors.flowlogs.jsondoc import get
from collectors.flowlogs.parsing import ParseOptions, Report, Row, Source, as_text, run
from collectors.flowlogs.result import ParseResult
from collectors.flowlogs.values import address, epoch_from_iso, port, small

SOURCE_FORMAT = "hubble"
# AUDIT flows would have been dropped but policy audit mode let them through; REDIRECTED go to
# the L7 proxy. TRACED, TRANSLATED and ERROR are observations without a decision.
_VERDICTS: dict[Any, str | None] = {
    "FORWARDED": "ACCEPT", "DROPPED": "DROP", "AUDIT": "ACCEPT", "REDIRECTED": "ACCEPT",
    1: "ACCEPT", 2: "DROP", 4: "ACCEPT", 5: "ACCEPT",
}
_DIRECTIONS = {"INGRESS": "ingress", "EGRESS": "egress", 1: "ingress", 2: "egress"}
_PORTED = {"TCP": 6, "UDP": 17, "SCTP": 132}
_ICMP = {"ICMPv4": 1, "ICMPv6": 58}
_OTHER = {"VRRP": 112, "IGMP": 2}


def parse(source: Source, filename: str, *, observed_at: datetime | None = None) -> ParseResult:
    """Flow records of Hubble JSON output, one GetFlowsResponse (or bare Flow) per line."""
    return run(iter_rows, source, filename, ParseOptions.of(observed_at), SOURCE_FORMAT)


def iter_rows(source: Source, report: Report, options: ParseOptions) -> Iterator[Row]:
    for line, doc in jsondoc.documents(as_text(source), report):
        if not isinstance(doc, dict):
            report.error(line, "not a JSON object")
            continue
        flow = doc.get("flow")
        if flow is None and ("verdict" in doc or "IP" in doc):
            flow = doc  # a bare Flow, as some exporters write it
        if not isinstance(flow, dict):
            kind = next(iter(doc), "empty object")
            report.skip(line, f"{kind!r} event, not a flow")
            continue
        if not isinstance(flow.get("IP"), dict):
            report.skip(line, "flow without an IP layer (L2 or socket event)")
            continue
        try:
            yield _row(flow, doc, options)
        except (ValueError, TypeError, OverflowError) as exc:
            report.error(line, str(exc))


def _row(flow: dict[str, Any], doc: dict[str, Any], options: ParseOptions) -> Row:
    ip = flow["IP"]
    src = address(ip.get("source"))
    dst = address(ip.get("destination"))
    moment = flow.get("time") or doc.get("time")
    if moment is not None:
        at = epoch_from_iso(moment)
    elif options.observed_at is not None:
        at = options.observed_at
    else:
        raise ValueError("flow has no time; pass observed_at")
    proto = sport = dport = icmp_type = icmp_code = None
    l4 = flow.get("l4")
    if isinstance(l4, dict) and l4:
        name, layer = next(iter(l4.items()))
        # protojson leaves out zero values: a missing port, type or code is 0
        if name in _PORTED:
            proto = _PORTED[name]
            sport = port(get(layer, "source_port", "sourcePort") or 0)
            dport = port(get(layer, "destination_port", "destinationPort") or 0)
        elif name in _ICMP:
            proto = _ICMP[name]
            icmp_type = small(get(layer, "type") or 0)
            icmp_code = small(get(layer, "code") or 0)
        elif name in _OTHER:
            proto = _OTHER[name]
        else:
            raise ValueError(f"unknown l4 protocol {name[:20]!r}")
    verdict = _VERDICTS.get(flow.get("verdict"))
    direction = _DIRECTIONS.get(get(flow, "traffic_direction", "trafficDirection"))
    observer = get(flow, "node_name", "nodeName") or get(doc, "node_name", "nodeName")
    return (at, at, src, dst, proto, dport, icmp_type, icmp_code, verdict,
            _rule_ref(flow, verdict), observer if isinstance(observer, str) else None, sport,
            1, 0, direction)


def _rule_ref(flow: dict[str, Any], verdict: str | None) -> str | None:
    """The policies that decided (newer Cilium), else the drop reason (`POLICY_DENIED`)."""
    if verdict == "DROP":
        keys = ("ingress_denied_by", "ingressDeniedBy", "egress_denied_by", "egressDeniedBy")
    else:
        keys = ("ingress_allowed_by", "ingressAllowedBy", "egress_allowed_by",
                "egressAllowedBy")
    names = []
    for key in keys:
        policies = flow.get(key)
        for policy in policies if isinstance(policies, list) else []:
            name = _policy_name(policy)
            if name and name not in names:
                names.append(name)
    if names:
        return ",".join(names)
    if verdict == "DROP":
        reason = get(flow, "drop_reason_desc", "dropReasonDesc")
        if isinstance(reason, str) and reason:
            return reason
        code = get(flow, "drop_reason", "dropReason")
        if isinstance(code, int) and not isinstance(code, bool):
            return f"drop_reason {code}"
    return None


def _policy_name(policy: Any) -> str | None:
    """`Kind:namespace/name` of a Policy message, leaving out the parts it lacks."""
    name = get(policy, "name")
    if not isinstance(name, str) or not name:
        return None
    namespace = get(policy, "namespace")
    kind = get(policy, "kind")
    if isinstance(namespace, str) and namespace:
        name = f"{namespace}/{name}"
    if isinstance(kind, str) and kind:
        name = f"{kind}:{name}"
    return name
