"""Which flow-log format a file holds, told from its content, and parsing whatever it is."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime

from collectors.errors import ParseError
from collectors.flowlogs import (
    aws_vpc,
    azure_nsg,
    conntrack,
    gcp_vpc,
    hubble,
    kernel_log,
    ulogd,
)
from collectors.flowlogs.parsing import ParseOptions, RowParser, as_text, run, starts_json
from collectors.flowlogs.result import ParseResult

ROW_PARSERS: dict[str, RowParser] = {
    aws_vpc.SOURCE_FORMAT: aws_vpc.iter_rows,
    gcp_vpc.SOURCE_FORMAT: gcp_vpc.iter_rows,
    azure_nsg.SOURCE_FORMAT: azure_nsg.iter_rows,
    hubble.SOURCE_FORMAT: hubble.iter_rows,
    conntrack.SOURCE_FORMAT: conntrack.iter_rows,
    ulogd.SOURCE_FORMAT: ulogd.iter_rows,
    kernel_log.SOURCE_FORMAT: kernel_log.iter_rows,
}
FORMATS = tuple(ROW_PARSERS)
HEAD_CHARS = 65536  # how much of a file detection reads
_HEAD_LINES = 200

# Keys that only one JSON format uses, checked in this order.
_JSON_MARKERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (azure_nsg.SOURCE_FORMAT, ('"flowTuples"', '"NetworkSecurityGroupFlowEvent"')),
    (aws_vpc.SOURCE_FORMAT, ('"logEvents"',)),
    (ulogd.SOURCE_FORMAT, ('"oob.prefix"', '"oob.time.sec"', '"raw.pktlen"', '"oob.hook"')),
    (gcp_vpc.SOURCE_FORMAT, ("vpc_flows", '"jsonPayload"', '"dest_ip"')),
    (hubble.SOURCE_FORMAT, ('"flow"', '"verdict"', '"drop_reason_desc"')),
)
_AZURE_TUPLE = re.compile(r"\d+,[0-9A-Fa-f.:]+,[0-9A-Fa-f.:]+,\d*,\d*,[TU],[IO],[AD](?:,|$)")
_CONNTRACK = re.compile(
    r"(?:\[\d+(?:\.\d+)?\]\s*)?(?:\[[A-Z]+\]\s*)?(?:(?:ipv4|ipv6)\s+\d+\s+)?"
    r"(?:[a-z][a-z0-9-]*\s+\d+\s.*\bsrc=|\d+\s+proto=\d+\s+src=)")
_LOG_LINE = re.compile(r"IN=\S* OUT=\S*.* SRC=")
_AWS_STATUS = ("OK", "NODATA", "SKIPDATA")


class UnknownFormatError(ParseError):
    """A file that is none of the flow-log formats Segscope reads."""

    def __init__(self, filename: str, reason: str) -> None:
        super().__init__(filename, 1, 1, reason)


def detect_format(head: str, filename: str) -> str:
    """The format (a key of ROW_PARSERS) of a file from its first characters, or raise."""
    text = head.lstrip("\ufeff \t\r\n")
    if not text:
        raise UnknownFormatError(filename, "empty file, not a flow log")
    if starts_json(text)[0]:
        for name, markers in _JSON_MARKERS:
            if any(marker in text for marker in markers):
                return name
        raise UnknownFormatError(
            filename, "JSON, but not AWS CloudWatch, GCP, Azure NSG, Hubble or ulogd flow logs")
    for line in _content_lines(text):
        found = _classify(line)
        if found is not None:
            return found
    raise UnknownFormatError(
        filename, "not a flow log Segscope reads (AWS VPC, GCP VPC, Azure NSG, Hubble, "
        "conntrack, ulogd JSON, kernel LOG lines)")


def parse_any(text: str | bytes, filename: str, *, observed_at: datetime | None = None,
              aws_fields: str | Iterable[str] | None = None) -> ParseResult:
    """Flow records of a file in any supported format, detected from its content."""
    text = as_text(text)
    name = detect_with_hint(text, filename, aws_fields)
    options = ParseOptions.of(observed_at, aws_fields)
    return run(ROW_PARSERS[name], text, filename, options, name)


def detect_with_hint(text: str, filename: str, aws_fields: str | Iterable[str] | None) -> str:
    """detect_format, except that a headerless file is AWS when its custom format is given."""
    try:
        return detect_format(text[:HEAD_CHARS], filename)
    except UnknownFormatError:
        if aws_fields is not None:
            return aws_vpc.SOURCE_FORMAT
        raise


def _content_lines(text: str) -> Iterable[str]:
    for i, line in enumerate(text.split("\n", _HEAD_LINES)):
        if i == _HEAD_LINES:
            break
        line = line.strip()
        if line and line[0] != "#":
            yield line


def _classify(line: str) -> str | None:
    if _LOG_LINE.search(line):
        return kernel_log.SOURCE_FORMAT
    if _AZURE_TUPLE.match(line):
        return azure_nsg.SOURCE_FORMAT
    if _CONNTRACK.match(line):
        return conntrack.SOURCE_FORMAT
    parts = line.split()
    if "srcaddr" in parts and all(p.strip("${}") in aws_vpc.KNOWN_FIELDS for p in parts):
        return aws_vpc.SOURCE_FORMAT
    if len(parts) == len(aws_vpc.DEFAULT_FIELDS) and parts[0].isdigit() and (
            parts[-1] in _AWS_STATUS):
        return aws_vpc.SOURCE_FORMAT
    return None
