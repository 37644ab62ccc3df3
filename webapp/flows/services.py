"""Flow services: a flow-log batch parsed, aggregated and written in one transaction."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import timedelta
from itertools import islice
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from collectors.flowlogs import FlowAggregator
from collectors.flowlogs.aggregate import Bucket
from collectors.flowlogs.detect import ROW_PARSERS, detect_with_hint
from collectors.flowlogs.parsing import ParseOptions, Report, collector_paused
from collectors.flowlogs.values import utc
from webapp.bulk import row_writer, timestamp_text
from webapp.flows.models import FlowBatch, FlowRecord
from webapp.inventory.models import Host

# The protocol's source names; "auto" detects the format from the content.
SOURCES: dict[str, str | None] = {
    "auto": None, "aws_vpc": "aws_vpc", "gcp_vpc": "gcp_vpc", "azure_nsg": "azure_nsg",
    "hubble": "hubble", "conntrack": "conntrack", "ulogd2": "ulogd", "kernel_log": "kernel_log",
}
BUCKET_SECONDS = 60
# A bucket is written once the batch has reached records this much newer: time-ordered logs
# are then written while the rest is still being parsed. A record older than that (rare in
# time-ordered logs) starts its bucket anew: summed apart from it, never lost.
SETTLE_SECONDS = 120
# Parsed rows added to the aggregator between writes of settled buckets.
CHUNK_ROWS = 16_384
MAX_REPORTED_BAD_LINES = 1000
_RECORD_FIELDS = ("host", "bucket_start", "bucket_end", "observer", "src", "dst", "proto",
                  "dport", "icmp_type", "icmp_code", "packets", "bytes", "records", "verdict",
                  "rule_ref", "source_format")


class TooManyLines(ValueError):
    """A flow batch longer than SEGSCOPE_MAX_FLOW_BATCH lines."""

    def __init__(self, count: int, maximum: int) -> None:
        super().__init__(f"the batch has {count} lines; the limit is {maximum}")
        self.count, self.maximum = count, maximum


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
    # Unsorted: (host, content_hash) is unique, and first() would sort by the batch ordering.
    earlier = FlowBatch.objects.filter(host=host, content_hash=digest).order_by()[:1]
    if earlier:
        return earlier[0], False
    # A named source skips detection: the agent knows what it tails.
    source_format = SOURCES[source] or detect_with_hint(text, filename, None)
    report = Report(filename)
    parsed = ROW_PARSERS[source_format](text, report, ParseOptions.of(now))
    aggregator = FlowAggregator(BUCKET_SECONDS)
    try:
        with transaction.atomic():
            with row_writer(FlowRecord, _RECORD_FIELDS) as writer, collector_paused():
                while chunk := list(islice(parsed, CHUNK_ROWS)):
                    aggregator.add_rows(chunk, source_format)
                    writer.write(_record_rows(
                        host.pk, aggregator.pop_buckets(keep_seconds=SETTLE_SECONDS)))
                writer.write(_record_rows(host.pk, aggregator.pop_buckets()))
            batch = FlowBatch.objects.create(
                host=host, content_hash=digest, source=source, source_format=source_format,
                filename=filename[:1024], received_at=now, accepted=aggregator.raw_records,
                written=writer.count, bad_line_count=len(report.errors),
                bad_lines=[{"line": e.line, "reason": e.reason}
                           for e in report.errors[:MAX_REPORTED_BAD_LINES]])
    except IntegrityError:
        # The same batch, sent twice at once, committed first by the other request.
        return FlowBatch.objects.get(host=host, content_hash=digest), False
    return batch, True


def _record_rows(host_id: int, buckets: list[Bucket]) -> Iterator[tuple[Any, ...]]:
    """The FlowRecord rows of summed buckets seen by one host."""
    for bucket in buckets:
        start = utc(bucket.start)
        # Rendered once per bucket: formatting a datetime costs more than the rest of a row.
        start_text = timestamp_text(start)
        end_text = timestamp_text(start + timedelta(seconds=bucket.seconds))
        source_format = bucket.source_format
        for (src, dst, proto, dport, icmp_type, icmp_code, verdict, rule_ref, observer), (
                packets, nbytes, records, _, _) in bucket.groups.items():
            yield (host_id, start_text, end_text, observer or "", src, dst, proto, dport,
                   icmp_type, icmp_code, packets, nbytes, records, verdict, rule_ref,
                   source_format)
