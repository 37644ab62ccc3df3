"""What the format parsers share: input forms, options, the row layout and the line report."""

from __future__ import annotations

import gc
import itertools
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from collectors.flowlogs.record import FlowRecord
from collectors.flowlogs.result import LineError, ParseResult
from collectors.flowlogs.values import epoch_of, utc

# A whole file as text or bytes, or its lines (with or without their line endings).
Source = str | bytes | Iterable[str]

# The parsers' hot-path form of a record, cheaper to build than a FlowRecord: epoch seconds
# instead of datetimes, and the aggregation key as one contiguous slice, row[2:11].
#   0 start, 1 end, 2 src, 3 dst, 4 proto, 5 dport, 6 icmp_type, 7 icmp_code, 8 verdict,
#   9 rule_ref, 10 observer, 11 sport, 12 packets, 13 bytes, 14 direction
Row = tuple[
    float, float, str, str, int | None, int | None, int | None, int | None, str | None,
    str | None, str | None, int | None, int, int, str | None,
]


@dataclass(frozen=True, slots=True)
class ParseOptions:
    """Facts about a file that live outside it: when it was collected, the AWS log format."""

    # Time given to records whose source has no wall clock (conntrack, dmesg, AWS formats
    # without start/end) and the reference year for syslog times; epoch seconds.
    observed_at: float | None = None
    # Field names of an AWS custom log format for files without a header line.
    aws_fields: tuple[str, ...] | None = None

    @classmethod
    def of(cls, observed_at: datetime | None = None,
           aws_fields: str | Iterable[str] | None = None) -> ParseOptions:
        fields: tuple[str, ...] | None = None
        if aws_fields is not None:
            raw = aws_fields.split() if isinstance(aws_fields, str) else aws_fields
            fields = tuple(name.strip("${}") for name in raw)  # AWS writes ${srcaddr} ...
        return cls(None if observed_at is None else epoch_of(observed_at), fields)


class Report:
    """Collects, for one file, the lines a parser rejected and those it skipped on purpose."""

    __slots__ = ("filename", "errors", "skipped")

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.errors: list[LineError] = []
        self.skipped: list[LineError] = []

    def error(self, line: int, reason: str) -> None:
        self.errors.append(LineError(self.filename, line, reason))

    def skip(self, line: int, reason: str) -> None:
        self.skipped.append(LineError(self.filename, line, reason))


_BLANK = " \t\r\n\ufeff"
# "{", or "[" followed by what can open an element or close the array, or by the line's end.
_JSON_START = re.compile(r'[ \t\r\n\ufeff]*(?:\{|\[[ \t\r]*(?:[{\["\]]|\n|$))')

RowParser = Callable[[Source, Report, ParseOptions], Iterator[Row]]


def as_text(source: Source) -> str:
    """The whole input as one string; bytes are decoded as UTF-8, bad bytes replaced."""
    if isinstance(source, str):
        return source
    if isinstance(source, bytes | bytearray):
        return bytes(source).decode("utf-8", errors="replace")
    return "\n".join(line.rstrip("\r\n") for line in source)


def as_lines(source: Source) -> Iterable[str]:
    """The input line by line, line endings possibly kept."""
    if isinstance(source, str | bytes | bytearray):
        return as_text(source).split("\n")
    return source


def run(parser: RowParser, source: Source, filename: str, options: ParseOptions,
        source_format: str) -> ParseResult:
    """Run a row parser over a file and build the FlowRecords of a ParseResult."""
    report = Report(filename)
    with collector_paused():
        records = to_records(parser(source, report, options), source_format)
    return ParseResult(records, report.errors, report.skipped, source_format)


@contextmanager
def collector_paused() -> Iterator[None]:
    """Keep Python's cyclic garbage collector off while a file is parsed or aggregated."""
    # Bulk parsing allocates hundreds of thousands of objects that live on (records, aggregate
    # keys) and form no cycles, yet each allocation burst makes the collector walk all of
    # them: ~40% of the ingest time. Reference counting still frees everything; cycles made
    # meanwhile elsewhere are collected once the collector is back on.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def to_records(rows: Iterable[Row], source_format: str) -> list[FlowRecord]:
    """FlowRecords from rows; each distinct epoch second becomes a datetime only once."""
    moments: dict[float, datetime] = {}
    records: list[FlowRecord] = []
    append = records.append
    for row in rows:
        start = moments.get(row[0])
        if start is None:
            start = moments[row[0]] = utc(row[0])
        end = moments.get(row[1])
        if end is None:
            end = moments[row[1]] = utc(row[1])
        append(FlowRecord(start, end, row[2], row[3], row[4], row[11], row[5], row[6], row[7],
                          row[12], row[13], row[8], row[14], row[10], row[9], source_format))
    return records


def starts_json(source: Source) -> tuple[bool, Source]:
    """Whether the input opens JSON (not a `[NEW]` text line), and the input, unconsumed."""
    if isinstance(source, str | bytes | bytearray):
        text = as_text(source)
        return _JSON_START.match(text) is not None, text
    iterator = iter(source)
    seen: list[str] = []
    for line in iterator:
        seen.append(line)
        if line.strip(_BLANK):
            return _JSON_START.match(line) is not None, itertools.chain(seen, iterator)
    return False, seen
