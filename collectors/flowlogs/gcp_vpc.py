"""GCP VPC flow logs (Cloud Logging entries of `vpc_flows`), and firewall rules logging entries
that share their `connection` shape and add the verdict and rule."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from collectors.flowlogs import jsondoc
from collectors.flowlogs.jsondoc import get
from collectors.flowlogs.parsing import ParseOptions, Report, Row, Source, as_text, run
from collectors.flowlogs.result import ParseResult
from collectors.flowlogs.values import (
    ICMP_PROTOCOLS,
    address,
    count,
    epoch_from_iso,
    optional,
    port,
    protocol,
    text_or_none,
)

SOURCE_FORMAT = "gcp_vpc"
# The reporter says which end logged the flow, hence the observer and the direction.
_REPORTERS = {
    "SRC": ("src_instance", "egress"), "DEST": ("dest_instance", "ingress"),
    "SRC_GATEWAY": ("src_gateway", "egress"), "DEST_GATEWAY": ("dest_gateway", "ingress"),
}
_DISPOSITIONS = {"ALLOWED": "ACCEPT", "DENIED": "DROP"}


def parse(source: Source, filename: str, *, observed_at: datetime | None = None) -> ParseResult:
    """Flow records of GCP flow or firewall log entries: JSON array, one entry or JSON Lines."""
    return run(iter_rows, source, filename, ParseOptions.of(observed_at), SOURCE_FORMAT)


def iter_rows(source: Source, report: Report, options: ParseOptions) -> Iterator[Row]:
    text = as_text(source)
    for line, entry in jsondoc.documents(text, report):
        if not isinstance(entry, dict):
            report.error(line, "not a log entry object")
            continue
        try:
            yield _row(entry, options)
        except (ValueError, TypeError, OverflowError) as exc:
            report.error(line, str(exc))


def _row(entry: dict[str, Any], options: ParseOptions) -> Row:
    payload = entry.get("jsonPayload", entry)
    conn = get(payload, "connection")
    if not isinstance(payload, dict) or not isinstance(conn, dict):
        raise ValueError("entry has no jsonPayload.connection")
    src = address(_required(conn, "src_ip"))
    dst = address(_required(conn, "dest_ip"))
    proto = protocol(_required(conn, "protocol"))
    sport = dport = None
    if proto not in ICMP_PROTOCOLS:
        sport = optional(conn.get("src_port"), port)
        dport = optional(conn.get("dest_port"), port)
    start = _time(payload.get("start_time"), entry, options)
    end = _time(payload.get("end_time"), entry, options) if "end_time" in payload else start
    packets = count(payload.get("packets_sent", 1))
    nbytes = count(payload.get("bytes_sent", 0))
    verdict = rule_ref = direction = observer = None
    reporter = _REPORTERS.get(str(payload.get("reporter")))
    if reporter is not None:
        observer = _vm_name(payload.get(reporter[0]))
        direction = reporter[1]
    disposition = payload.get("disposition")
    if disposition is not None:  # firewall rules logging entry
        verdict = _DISPOSITIONS.get(str(disposition))
        details = payload.get("rule_details")
        rule_ref = text_or_none(get(details, "reference"))
        rule_direction = text_or_none(get(details, "direction"))
        direction = rule_direction.lower() if rule_direction in ("INGRESS", "EGRESS") else None
        observer = _vm_name(payload.get("instance"))
    return (start, end, src, dst, proto, dport, None, None, verdict, rule_ref, observer, sport,
            packets, nbytes, direction)


def _required(conn: dict[str, Any], key: str) -> Any:
    value = conn.get(key)
    if value is None:
        raise ValueError(f"connection has no {key}")
    return value



def _time(value: Any, entry: dict[str, Any], options: ParseOptions) -> float:
    if value is None:
        value = entry.get("timestamp")  # firewall entries carry only the entry's time
    if value is not None:
        return epoch_from_iso(value)
    if options.observed_at is None:
        raise ValueError("entry has no start_time or timestamp; pass observed_at")
    return options.observed_at


def _vm_name(instance: Any) -> str | None:
    return text_or_none(get(instance, "vm_name", "name"))
