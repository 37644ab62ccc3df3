"""Flow records summed per time bucket and per destination service, verdict, rule and observer."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import datetime
from itertools import groupby
from operator import attrgetter
from typing import Any, NamedTuple

from collectors.flowlogs.detect import ROW_PARSERS, detect_with_hint
from collectors.flowlogs.parsing import (
    ParseOptions,
    Report,
    Row,
    as_text,
    collector_paused,
)
from collectors.flowlogs.record import FlowRecord
from collectors.flowlogs.result import LineError
from collectors.flowlogs.values import epoch_from_iso, epoch_of, utc

DEFAULT_BUCKET_SECONDS = 60
_Sums = tuple[int, int, int, float, float]  # packets, bytes, records, earliest start, latest end
# src, dst, proto, dport, icmp_type, icmp_code, verdict, rule_ref, observer (a Row's key slice)
_Key = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class FlowAggregate:
    """The flows of one time bucket that share all but source port and direction, summed."""

    bucket_start: datetime
    bucket_seconds: int
    src: str
    dst: str
    proto: int | None
    dport: int | None
    icmp_type: int | None
    icmp_code: int | None
    verdict: str | None
    rule_ref: str | None
    observer: str | None
    source_format: str
    packets: int
    bytes: int
    records: int  # raw records summed into this one
    start: datetime  # earliest start of those records
    end: datetime  # latest end

    def to_dict(self) -> dict[str, Any]:
        return {
            "bucket_start": self.bucket_start.isoformat(), "bucket_seconds": self.bucket_seconds,
            "src": self.src, "dst": self.dst, "proto": self.proto, "dport": self.dport,
            "icmp_type": self.icmp_type, "icmp_code": self.icmp_code, "verdict": self.verdict,
            "rule_ref": self.rule_ref, "observer": self.observer,
            "source_format": self.source_format, "packets": self.packets, "bytes": self.bytes,
            "records": self.records, "start": self.start.isoformat(),
            "end": self.end.isoformat(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FlowAggregate:
        """The aggregate to_dict wrote."""
        return cls(
            utc(epoch_from_iso(data["bucket_start"])), int(data["bucket_seconds"]),
            data["src"], data["dst"], data["proto"], data["dport"], data["icmp_type"],
            data["icmp_code"], data["verdict"], data["rule_ref"], data["observer"],
            data["source_format"], int(data["packets"]), int(data["bytes"]),
            int(data["records"]), utc(epoch_from_iso(data["start"])),
            utc(epoch_from_iso(data["end"])))


AGGREGATE_COLUMNS = tuple(f.name for f in fields(FlowAggregate))
# One aggregate as a plain tuple in AGGREGATE_COLUMNS order, ready for a bulk COPY.
AggregateRow = tuple[datetime, int, str, str, int | None, int | None, int | None, int | None,
                     str | None, str | None, str | None, str, int, int, int, datetime, datetime]


class Bucket(NamedTuple):
    """One time bucket of one source format: its groups, keyed by a Row's key slice (src, dst,
    proto, dport, icmp_type, icmp_code, verdict, rule_ref, observer), each with its sums
    (packets, bytes, records, earliest start, latest end in epoch seconds)."""

    source_format: str
    start: int  # epoch seconds
    seconds: int
    groups: dict[_Key, _Sums]


@dataclass(frozen=True, slots=True)
class IngestReport:
    """What adding one flow-log file to an aggregator found: its format, records, bad lines."""

    filename: str
    source_format: str
    raw_records: int
    errors: list[LineError]
    skipped: list[LineError]


class FlowAggregator:
    """Sums flow rows or records into FlowAggregates as they arrive, file after file."""

    def __init__(self, bucket_seconds: int = DEFAULT_BUCKET_SECONDS) -> None:
        if isinstance(bucket_seconds, bool) or not isinstance(bucket_seconds, int) or (
                bucket_seconds <= 0):
            raise ValueError(f"bucket_seconds must be a positive integer, not {bucket_seconds!r}")
        self.bucket_seconds = bucket_seconds
        self.raw_records = 0
        # source format -> bucket index -> key fields -> (packets, bytes, records, start, end)
        self._groups: dict[str, dict[float, dict[_Key, _Sums]]] = {}
        self._newest: dict[str, float] = {}  # source format -> newest bucket index seen
        # source format -> how many buckets behind the newest a record has come, at most
        self._lateness: dict[str, float] = {}

    def add_rows(self, rows: Iterable[Row], source_format: str) -> int:
        """Add parser rows of one format; returns how many were added."""
        buckets = self._groups.setdefault(source_format, {})
        width = self.bucket_seconds
        added = 0
        last_bucket: float | None = None
        newest = self._newest.get(source_format, float("-inf"))
        lateness = self._lateness.get(source_format, 0.0)
        groups: dict[_Key, _Sums] = {}
        # The hot path of flow ingest: epoch arithmetic and one dict lookup per row (rows of a
        # file mostly stay in one bucket for a while); datetimes are built once per aggregate,
        # in rows(). Sums are tuples rather than lists because the garbage collector stops
        # tracking tuples of plain values, and an aggregator may hold millions of them.
        with collector_paused():
            for row in rows:
                start = row[0]
                bucket = start // width
                if bucket != last_bucket:
                    groups = buckets.setdefault(bucket, {})
                    last_bucket = bucket
                    if bucket > newest:
                        newest = bucket
                    elif newest - bucket > lateness:
                        lateness = newest - bucket
                key = row[2:11]  # the key slice, see Row
                acc = groups.get(key)
                if acc is None:
                    groups[key] = (row[12], row[13], 1, start, row[1])
                else:
                    groups[key] = (acc[0] + row[12], acc[1] + row[13], acc[2] + 1,
                                   start if start < acc[3] else acc[3],
                                   row[1] if row[1] > acc[4] else acc[4])
                added += 1
        self.raw_records += added
        if added:
            self._newest[source_format] = newest
            self._lateness[source_format] = lateness
        return added

    def add_records(self, records: Iterable[FlowRecord]) -> int:
        """Add FlowRecords (of any formats); returns how many were added."""
        epochs: dict[datetime, float] = {}  # parsers share one datetime per distinct second

        def epoch(moment: datetime) -> float:
            seconds = epochs.get(moment)
            if seconds is None:
                seconds = epochs[moment] = epoch_of(moment)
            return seconds

        added = 0
        for source_format, group in groupby(records, key=attrgetter("source_format")):
            added += self.add_rows(
                ((epoch(r.start), epoch(r.end), r.src, r.dst, r.proto, r.dport, r.icmp_type,
                  r.icmp_code, r.verdict, r.rule_ref, r.observer, r.sport, r.packets, r.bytes,
                  r.direction) for r in group), source_format)
        return added

    def add_text(self, text: str | bytes, filename: str, *,
                 observed_at: datetime | None = None,
                 aws_fields: str | Iterable[str] | None = None) -> IngestReport:
        """Detect, parse and add one flow-log file: the ingest path, no FlowRecord per line."""
        text = as_text(text)
        name = detect_with_hint(text, filename, aws_fields)
        report = Report(filename)
        rows = ROW_PARSERS[name](text, report, ParseOptions.of(observed_at, aws_fields))
        added = self.add_rows(rows, name)
        return IngestReport(filename, name, added, report.errors, report.skipped)

    def pop_buckets(self, *, keep_seconds: int | None = None) -> list[Bucket]:
        """Remove and return the buckets summed so far: all of them, or with keep_seconds only
        those older than the newest bucket of their format by more than keep_seconds, and by
        more than twice the furthest any record of that format has come behind the newest
        (cloud flow logs mix records of a capture window of up to ten minutes). A record for a
        bucket already taken starts that bucket anew (summed apart, not lost)."""
        width = self.bucket_seconds
        taken: list[Bucket] = []
        for source_format, buckets in self._groups.items():
            newest = self._newest.get(source_format)
            if keep_seconds is None:
                settled = list(buckets)
            elif newest is None:
                continue  # nothing added in this format yet
            else:
                keep = max(keep_seconds / width, 2 * self._lateness[source_format])
                settled = [bucket for bucket in buckets if bucket < newest - keep]
            for bucket in settled:
                taken.append(Bucket(source_format, int(bucket) * width, width,
                                    buckets.pop(bucket)))
        return taken

    def rows(self) -> list[AggregateRow]:
        """Everything added so far as tuples in AGGREGATE_COLUMNS order, ready for COPY."""
        moments: dict[float, datetime] = {}  # each distinct second becomes a datetime once
        width = self.bucket_seconds
        result: list[AggregateRow] = []
        append = result.append
        with collector_paused():
            for source_format, buckets in self._groups.items():
                for bucket, groups in buckets.items():
                    bucket_start = int(bucket) * width
                    first = moments.get(bucket_start) or moments.setdefault(
                        bucket_start, utc(bucket_start))
                    for key, (packets, nbytes, records, start, end) in groups.items():
                        earliest = moments.get(start) or moments.setdefault(start, utc(start))
                        latest = moments.get(end) or moments.setdefault(end, utc(end))
                        (src, dst, proto, dport, icmp_type, icmp_code, verdict, rule_ref,
                         observer) = key
                        append((first, width, src, dst, proto, dport, icmp_type, icmp_code,
                                verdict, rule_ref, observer, source_format, packets, nbytes,
                                records, earliest, latest))
        return result

    def aggregates(self) -> list[FlowAggregate]:
        """Everything added so far as FlowAggregates, in the order of rows()."""
        rows = self.rows()
        with collector_paused():
            return [FlowAggregate(*row) for row in rows]


def aggregate(records: Iterable[FlowRecord],
              bucket_seconds: int = DEFAULT_BUCKET_SECONDS) -> list[FlowAggregate]:
    """FlowAggregates of records, in buckets of bucket_seconds aligned to the epoch."""
    aggregator = FlowAggregator(bucket_seconds)
    aggregator.add_records(records)
    return aggregator.aggregates()
