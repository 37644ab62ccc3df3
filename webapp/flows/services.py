"""Flow services: a flow-log batch parsed, aggregated and written in one transaction."""

from __future__ import annotations

import hashlib
import operator
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from collectors.flowlogs import AGGREGATE_COLUMNS, FlowAggregator, LineError
from collectors.flowlogs.detect import ROW_PARSERS
from collectors.flowlogs.parsing import ParseOptions, Report
from webapp.flows.models import FlowBatch, FlowRecord
from webapp.flows.writer import insert_rows
from webapp.inventory.models import Host

# The protocol's source names; "auto" detects the format from the content.
SOURCES: dict[str, str | None] = {
    "auto": None, "aws_vpc": "aws_vpc", "gcp_vpc": "gcp_vpc", "azure_nsg": "azure_nsg",
    "hubble": "hubble", "conntrack": "conntrack", "ulogd2": "ulogd", "kernel_log": "kernel_log",
}
BUCKET_SECONDS = 60
MAX_REPORTED_BAD_LINES = 1000
# FlowRecord fields filled from the aggregator's rows, looked up by column name.
_COPIED = ("src", "dst", "proto", "dport", "icmp_type", "icmp_code", "packets", "bytes",
           "records", "verdict", "rule_ref", "source_format")
_RECORD_FIELDS = ("host", "bucket_start", "bucket_end", "observer", *_COPIED)
_COLUMN = {name: i for i, name in enumerate(AGGREGATE_COLUMNS)}
_copied = operator.itemgetter(*(_COLUMN[name] for name in _COPIED))


class TooManyLines(ValueError):
    """A flow batch longer than SEGSCOPE_MAX_FLOW_BATCH lines."""

    def __init__(self, count: int, maximum: int) -> None:
        super().__init__(f"the batch has {count} lines; the limit is {maximum}")
        self.count, self.maximum = count, maximum


@dataclass(frozen=True, slots=True)
class _Parsed:
    aggregator: FlowAggregator
    errors: list[LineError]
    source_format: str


def ingest_flows(host: Host, source: str, filename: str, text: str) -> tuple[FlowBatch, bool]:
    """Parse, aggregate and write a batch of flow-log text from a host, atomically; a batch
    sent again is answered from the database without writing. Returns the batch and whether
    it is new. Raises TooManyLines, or the flow parser's ParseError when no format fits."""
    lines = text.count("\n") + (1 if text and not text.endswith("\n") else 0)
    if lines > settings.SEGSCOPE_MAX_FLOW_BATCH:
        raise TooManyLines(lines, settings.SEGSCOPE_MAX_FLOW_BATCH)
    digest = hashlib.sha256(f"{source}\0{filename}\0".encode() + text.encode()).hexdigest()
    now = timezone.now()
    Host.objects.filter(pk=host.pk).update(last_seen_at=now)
    earlier = FlowBatch.objects.filter(host=host, content_hash=digest).first()
    if earlier is not None:
        return earlier, False
    parsed = _parse(source, filename, text, now)
    bad = [{"line": e.line, "reason": e.reason} for e in parsed.errors[:MAX_REPORTED_BAD_LINES]]
    rows = list(_rows(host.pk, parsed.aggregator))
    try:
        with transaction.atomic():
            batch = FlowBatch.objects.create(
                host=host, content_hash=digest, source=source,
                source_format=parsed.source_format, filename=filename[:1024], received_at=now,
                accepted=parsed.aggregator.raw_records, written=len(rows), bad_lines=bad,
                bad_line_count=len(parsed.errors))
            write_flow_rows(rows)
    except IntegrityError:
        # The same batch, sent twice at once, committed first by the other request.
        return FlowBatch.objects.get(host=host, content_hash=digest), False
    return batch, True


def _parse(source: str, filename: str, text: str, observed_at: datetime) -> _Parsed:
    aggregator = FlowAggregator(BUCKET_SECONDS)
    fmt = SOURCES[source]
    if fmt is None:
        found = aggregator.add_text(text, filename, observed_at=observed_at)
        return _Parsed(aggregator, found.errors, found.source_format)
    # A named source skips detection: the agent knows what it tails.
    report = Report(filename)
    aggregator.add_rows(ROW_PARSERS[fmt](text, report, ParseOptions.of(observed_at)), fmt)
    return _Parsed(aggregator, report.errors, fmt)


def write_flow_rows(rows: list[tuple[Any, ...]]) -> int:
    """Write FlowRecord rows (values in _RECORD_FIELDS order) with COPY on PostgreSQL."""
    return insert_rows(FlowRecord, _RECORD_FIELDS, rows)


def _rows(host_id: int, aggregator: FlowAggregator) -> Iterator[tuple[Any, ...]]:
    """What an aggregator summed, seen by one host, as FlowRecord rows."""
    ends: dict[datetime, datetime] = {}
    start_at, width_at, observer_at = (
        _COLUMN["bucket_start"], _COLUMN["bucket_seconds"], _COLUMN["observer"])
    for row in aggregator.rows():
        start = cast(datetime, row[start_at])
        end = ends.get(start)
        if end is None:
            end = ends[start] = start + timedelta(seconds=cast(int, row[width_at]))
        yield (host_id, start, end, row[observer_at] or "", *_copied(row))
