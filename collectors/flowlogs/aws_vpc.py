"""AWS VPC flow logs, versions 2 to 5 (and transit-gateway v6): text files whose field order
comes from their header line (default format without one), and the CloudWatch Logs JSON
wrapper."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from operator import itemgetter
from typing import Any

from collectors.flowlogs import jsondoc
from collectors.flowlogs.parsing import (
    ParseOptions,
    Report,
    Row,
    Source,
    as_lines,
    as_text,
    run,
    starts_json,
)
from collectors.flowlogs.result import ParseResult
from collectors.flowlogs.values import (
    ADDRESSES,
    ICMP_PROTOCOLS,
    MAX_EPOCH,
    address,
    epoch,
    epoch_from_iso,
)

SOURCE_FORMAT = "aws_vpc"
DEFAULT_FIELDS = (
    "version", "account-id", "interface-id", "srcaddr", "dstaddr", "srcport", "dstport",
    "protocol", "packets", "bytes", "start", "end", "action", "log-status",
)
# The interface, instance or attachment that captured the flow, best first.
_OBSERVER_FIELDS = ("interface-id", "instance-id", "tgw-attachment-id", "resource-id")
# AWS REJECT is a security group or network ACL refusing the packet; both discard it
# silently (no RST, no ICMP), which is DROP in the kernel's vocabulary that verdicts follow.
_ACTIONS: dict[str, str | None] = {"ACCEPT": "ACCEPT", "REJECT": "DROP", "-": None}
_DIRECTIONS: dict[str, str | None] = {"ingress": "ingress", "egress": "egress", "-": None}
_FIELD_NAME = re.compile(r"(?:\$\{)?[a-z][a-z0-9-]*\}?\Z")
# Every field AWS documents (flow logs v2-v5, ECS, transit gateway): a line starting with one
# of them is a header even when it has as many fields as the format in force.
KNOWN_FIELDS = frozenset(DEFAULT_FIELDS + (
    "vpc-id", "subnet-id", "instance-id", "tcp-flags", "type", "pkt-srcaddr", "pkt-dstaddr",
    "region", "az-id", "sublocation-type", "sublocation-id", "pkt-src-aws-service",
    "pkt-dst-aws-service", "flow-direction", "traffic-path", "reject-reason", "resource-id",
    "ecs-cluster-arn", "ecs-cluster-name", "ecs-container-instance-arn",
    "ecs-container-instance-id", "ecs-container-id", "ecs-second-container-id",
    "ecs-service-name", "ecs-task-definition-arn", "ecs-task-arn", "ecs-task-id",
    "tgw-id", "tgw-attachment-id", "tgw-src-vpc-account-id", "tgw-dst-vpc-account-id",
    "tgw-src-vpc-id", "tgw-dst-vpc-id", "tgw-src-subnet-id", "tgw-dst-subnet-id",
    "tgw-src-eni", "tgw-dst-eni", "tgw-src-az-id", "tgw-dst-az-id", "tgw-pair-attachment-id",
    "packets-lost-no-route", "packets-lost-blackhole", "packets-lost-mtu-exceeded",
    "packets-lost-ttl-expired",
))


def parse(source: Source, filename: str, *, observed_at: datetime | None = None,
          fields: str | Iterable[str] | None = None) -> ParseResult:
    """Flow records of an AWS VPC flow log (text with or without header, or CloudWatch JSON)."""
    # fields: the flow log's format, for custom formats without a header line (CloudWatch);
    # observed_at: the time of records whose format has no start/end.
    return run(iter_rows, source, filename, ParseOptions.of(observed_at, fields), SOURCE_FORMAT)


def iter_rows(source: Source, report: Report, options: ParseOptions) -> Iterator[Row]:
    is_json, source = starts_json(source)
    if is_json:
        return _cloudwatch_rows(as_text(source), report, options)
    return _text_rows(as_lines(source), report, options)


class _NoFlow(Exception):
    """A record whose log-status says it holds no flow (NODATA, SKIPDATA)."""


class _Layout:
    """Where each field of interest stands in a record of one log format. A field the format
    lacks points one past the end, where the parser appends a "-" to every record."""

    __slots__ = ("width", "src", "dst", "sport", "dport", "proto", "packets", "bytes",
                 "start", "end", "action", "status", "direction", "observer", "has_addresses")

    def __init__(self, names: tuple[str, ...]) -> None:
        self.width = len(names)
        where: dict[str, int] = {}
        for i, name in enumerate(names):
            where.setdefault(name, i)
        missing = self.width
        self.src = where.get("srcaddr", missing)
        self.dst = where.get("dstaddr", missing)
        self.sport = where.get("srcport", missing)
        self.dport = where.get("dstport", missing)
        self.proto = where.get("protocol", missing)
        self.packets = where.get("packets", missing)
        self.bytes = where.get("bytes", missing)
        self.start = where.get("start", missing)
        self.end = where.get("end", missing)
        self.action = where.get("action", missing)
        self.status = where.get("log-status", missing)
        self.direction = where.get("flow-direction", missing)
        self.observer = next((where[f] for f in _OBSERVER_FIELDS if f in where), missing)
        self.has_addresses = "srcaddr" in where and "dstaddr" in where

    def numbers(self) -> Callable[[list[str]], tuple[str, ...]]:
        """Picks srcport, dstport, protocol, packets, bytes, start, end from a record."""
        return itemgetter(self.sport, self.dport, self.proto, self.packets, self.bytes,
                          self.start, self.end)

    def texts(self) -> Callable[[list[str]], tuple[str, ...]]:
        """Picks srcaddr, dstaddr, log-status, action, flow-direction, observer."""
        return itemgetter(self.src, self.dst, self.status, self.action, self.direction,
                          self.observer)


_DEFAULT_LAYOUT = _Layout(DEFAULT_FIELDS)
_HEADER_STARTS = KNOWN_FIELDS | {f"${{{name}}}" for name in KNOWN_FIELDS}


def _is_header(parts: list[str]) -> bool:
    return (("srcaddr" in parts or "${srcaddr}" in parts)
            and all(_FIELD_NAME.match(p) for p in parts))


def _text_rows(lines: Iterable[str], report: Report, options: ParseOptions) -> Iterator[Row]:
    layout = _Layout(options.aws_fields) if options.aws_fields else _DEFAULT_LAYOUT
    fallback = options.observed_at
    addresses, actions, directions = ADDRESSES, _ACTIONS, _DIRECTIONS
    width, numbers, texts = layout.width, layout.numbers(), layout.texts()
    for lineno, line in enumerate(lines, 1):
        parts = line.split()  # any run of blanks separates: one record has a double space
        if len(parts) != width or parts[0] in _HEADER_STARTS:
            if not parts or parts[0][0] == "#":
                continue
            if _is_header(parts):
                layout = _Layout(tuple(p.strip("${}") for p in parts))
                width, numbers, texts = layout.width, layout.numbers(), layout.texts()
                continue
            if len(parts) != width:
                report.error(lineno, _width_error(len(parts), layout))
                continue
        parts.append("-")  # where the fields the format lacks point
        # The hot path: complete, well-formed records only, fields picked and converted in C
        # (itemgetter, map(int)). Anything else raises (a "-", an address not yet in the
        # cache, NODATA) and goes to _row, which decides and explains.
        try:
            sport, dport, proto, packets, nbytes, start, end = map(int, numbers(parts))
            src, dst, status, action, direction, observer = texts(parts)
            if not (status == "OK" or status == "-") or not (
                    0 <= sport <= 65535 and 0 <= dport <= 65535 and 0 <= proto <= 255
                    and 0 <= start <= MAX_EPOCH and 0 <= end <= MAX_EPOCH
                    and packets >= 0 and nbytes >= 0):
                raise ValueError
            row: Row = (start, end, addresses[src], addresses[dst], proto,
                        None if proto == 1 or proto == 58 else dport, None, None,
                        actions[action], None, None if observer == "-" else observer,
                        None if proto == 1 or proto == 58 else sport, packets, nbytes,
                        directions[direction])
        except (ValueError, KeyError):
            try:
                row = _row(parts, layout, fallback)
            except _NoFlow as no_flow:
                report.skip(lineno, f"log-status {no_flow}: no flow in this interval")
                continue
            except ValueError as exc:
                report.error(lineno, str(exc))
                continue
        yield row


def _width_error(found: int, layout: _Layout) -> str:
    if layout is _DEFAULT_LAYOUT:
        return (f"{found} fields where the default format has {layout.width} and no header line"
                " named others; pass the custom log format (fields=...)")
    return f"{found} fields where the log format has {layout.width}"


def _cloudwatch_rows(text: str, report: Report, options: ParseOptions) -> Iterator[Row]:
    """Records of CloudWatch Logs subscription data: {"logEvents": [{"timestamp", "message"}]}."""
    layout = _Layout(options.aws_fields) if options.aws_fields else _DEFAULT_LAYOUT
    index = jsondoc.LineIndex(text)
    for line, doc in jsondoc.documents(text, report, index):
        events = jsondoc.get(doc, "logEvents")
        if not isinstance(events, list):
            if jsondoc.get(doc, "messageType") == "CONTROL_MESSAGE":
                report.skip(line, "CloudWatch control message")
            else:
                report.error(line, "JSON document without logEvents: not CloudWatch flow logs")
            continue
        stream = jsondoc.get(doc, "logStream")
        for event in events:
            message = jsondoc.get(event, "message")
            if not isinstance(message, str):
                report.error(line, "log event without a message")
                continue
            at = index.find_json_string(message, line)
            parts = message.split()
            if not parts or _is_header(parts):
                continue
            if len(parts) != layout.width:
                report.error(at, _width_error(len(parts), layout))
                continue
            parts.append("-")
            try:
                row = _row(parts, layout, _event_time(event, options))
            except _NoFlow as status:
                report.skip(at, f"log-status {status}: no flow in this interval")
                continue
            except ValueError as exc:
                report.error(at, str(exc))
                continue
            if row[10] is None and isinstance(stream, str):
                row = row[:10] + (stream,) + row[11:]  # the log stream is named after the ENI
            yield row


def _event_time(event: Any, options: ParseOptions) -> float | None:
    """The CloudWatch event's timestamp (milliseconds), for formats without start/end."""
    stamp = jsondoc.get(event, "timestamp")
    if not isinstance(stamp, int | float) or isinstance(stamp, bool):
        return options.observed_at
    try:
        return epoch(stamp / 1000)
    except OverflowError:
        raise ValueError(f"event timestamp out of range: {stamp}") from None


def _row(parts: list[str], lay: _Layout, fallback: float | None) -> Row:
    """The row of one record (with the "-" sentinel appended); ValueError says what is wrong."""
    status = parts[lay.status]
    if status not in ("OK", "-"):
        raise _NoFlow(status)
    if not lay.has_addresses:
        raise ValueError("the log format has no srcaddr/dstaddr fields")
    src = address(parts[lay.src])
    dst = address(parts[lay.dst])
    proto = _number(parts[lay.proto], "protocol", 255)
    if proto in ICMP_PROTOCOLS:
        sport = dport = None  # AWS writes 0 0 for ICMP, which has no ports
    else:
        sport = _number(parts[lay.sport], "srcport", 65535)
        dport = _number(parts[lay.dport], "dstport", 65535)
    start = _time(parts[lay.start], fallback)
    end = _time(parts[lay.end], start)
    if start is None or end is None:
        raise ValueError("record has no start/end time; pass observed_at")
    packets = _number(parts[lay.packets], "packets", None)
    nbytes = _number(parts[lay.bytes], "bytes", None)
    verdict = _lookup(_ACTIONS, parts[lay.action], "action")
    direction = _lookup(_DIRECTIONS, parts[lay.direction], "flow-direction")
    observer = None if parts[lay.observer] == "-" else parts[lay.observer]
    return (start, end, src, dst, proto, dport, None, None, verdict, None, observer, sport,
            1 if packets is None else packets, 0 if nbytes is None else nbytes, direction)


def _number(text: str, name: str, limit: int | None) -> int | None:
    if text == "-":
        return None
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{name} is not a number: {text[:40]!r}") from None
    if value < 0 or (limit is not None and value > limit):
        raise ValueError(f"{name} out of range: {value}")
    return value


def _lookup(table: dict[str, str | None], text: str, name: str) -> str | None:
    if text not in table:
        raise ValueError(f"unknown {name} {text[:40]!r}")
    return table[text]


def _time(text: str, fallback: float | None) -> float | None:
    if text == "-":
        return fallback
    try:
        value = int(text)
    except ValueError:
        return epoch_from_iso(text)  # some exporters rewrite epoch seconds as ISO 8601
    if not 0 <= value <= MAX_EPOCH:
        raise ValueError(f"time out of range: {text[:40]}")
    return value
