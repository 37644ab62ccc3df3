"""Flow aggregation: sums per time bucket and service, and the values crossing to the webapp."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from collectors.flowlogs import (
    AGGREGATE_COLUMNS,
    FlowAggregate,
    FlowAggregator,
    FlowRecord,
    aggregate,
    parse_any,
)

DATA = Path(__file__).parent / "data" / "flowlogs"
OBSERVED = datetime(2026, 11, 26, 4, 0, tzinfo=UTC)
T0 = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)

# payments-7f9c (10.1.0.5) on node-01 talking to ledger (10.2.0.7:5432)
PAYMENTS_TO_LEDGER = FlowRecord(T0, T0 + timedelta(seconds=10), "10.1.0.5", "10.2.0.7", 6,
                                sport=49152, dport=5432, packets=10, bytes=1000,
                                verdict="ACCEPT", observer="node-01", rule_ref="allow-ledger",
                                source_format="kernel_log")


def later(record: FlowRecord, seconds: int, **changes: object) -> FlowRecord:
    return replace(record, start=record.start + timedelta(seconds=seconds),
                   end=record.end + timedelta(seconds=seconds), **changes)


def test_it_sums_flows_that_differ_only_in_source_port() -> None:
    second = later(PAYMENTS_TO_LEDGER, 20, sport=49153, packets=5, bytes=500)

    (total,) = aggregate([PAYMENTS_TO_LEDGER, second])

    assert total == FlowAggregate(
        bucket_start=T0, bucket_seconds=60, src="10.1.0.5", dst="10.2.0.7", proto=6, dport=5432,
        icmp_type=None, icmp_code=None, verdict="ACCEPT", rule_ref="allow-ledger",
        observer="node-01", source_format="kernel_log", packets=15, bytes=1500, records=2,
        start=T0, end=T0 + timedelta(seconds=30))


@pytest.mark.parametrize("change", [
    {"verdict": "DROP"}, {"rule_ref": "deny-all"}, {"observer": "node-02"}, {"dport": 5433},
    {"dst": "10.2.0.8"}, {"proto": 17}, {"source_format": "conntrack"},
])
def test_it_keeps_flows_with_another_key_apart(change: dict[str, object]) -> None:
    other = replace(PAYMENTS_TO_LEDGER, **change)  # type: ignore[arg-type]

    assert len(aggregate([PAYMENTS_TO_LEDGER, other])) == 2


def test_it_buckets_on_epoch_aligned_windows_of_the_configured_width() -> None:
    records = [later(PAYMENTS_TO_LEDGER, s) for s in (0, 59, 60, 299, 300)]

    per_minute = aggregate(records)
    per_five_minutes = aggregate(records, bucket_seconds=300)

    assert [(a.bucket_start, a.records) for a in per_minute] == [
        (T0, 2), (T0 + timedelta(minutes=1), 1), (T0 + timedelta(minutes=4), 1),
        (T0 + timedelta(minutes=5), 1)]
    assert [(a.bucket_start, a.records) for a in per_five_minutes] == [
        (T0, 4), (T0 + timedelta(minutes=5), 1)]


def test_it_keeps_the_earliest_start_and_the_latest_end_of_a_bucket() -> None:
    records = [later(PAYMENTS_TO_LEDGER, 30), PAYMENTS_TO_LEDGER, later(PAYMENTS_TO_LEDGER, 5)]

    (total,) = aggregate(records)

    assert (total.start, total.end) == (T0, T0 + timedelta(seconds=40))


def test_it_keeps_icmp_types_apart() -> None:
    ping = replace(PAYMENTS_TO_LEDGER, proto=1, sport=None, dport=None, icmp_type=8, icmp_code=0)
    unreachable = replace(ping, icmp_type=3, icmp_code=3)

    assert len(aggregate([ping, ping, unreachable])) == 2


@pytest.mark.parametrize("name", sorted(p.name for p in DATA.iterdir()))
def test_it_aggregates_a_file_as_it_would_its_parsed_records(name: str) -> None:
    text = (DATA / name).read_text()
    aggregator = FlowAggregator(60)

    report = aggregator.add_text(text, name, observed_at=OBSERVED)
    parsed = parse_any(text, name, observed_at=OBSERVED)

    assert aggregator.aggregates() == aggregate(parsed.records)
    assert (report.raw_records, report.errors, report.skipped, report.source_format) == (
        len(parsed.records), parsed.errors, parsed.skipped, parsed.source_format)


def test_it_accumulates_files_of_several_formats() -> None:
    aggregator = FlowAggregator()

    for name in ("kern.log", "ulogd.json"):
        aggregator.add_text((DATA / name).read_text(), name, observed_at=OBSERVED)

    assert aggregator.raw_records == 6
    assert {a.source_format for a in aggregator.aggregates()} == {"kernel_log", "ulogd"}


def test_it_gives_rows_in_the_column_order_of_flow_aggregate() -> None:
    aggregator = FlowAggregator()
    aggregator.add_records([PAYMENTS_TO_LEDGER])

    (row,) = aggregator.rows()

    assert dict(zip(AGGREGATE_COLUMNS, row, strict=True)) == {
        name: getattr(aggregator.aggregates()[0], name) for name in AGGREGATE_COLUMNS}


@pytest.mark.parametrize("width", [0, -60, 1.5, True, "60"])
def test_it_refuses_a_bucket_width_that_is_not_a_positive_integer(width: object) -> None:
    with pytest.raises(ValueError, match="bucket_seconds must be a positive integer"):
        FlowAggregator(width)  # type: ignore[arg-type]


def test_it_round_trips_an_aggregate_through_a_dict() -> None:
    (total,) = aggregate([PAYMENTS_TO_LEDGER])

    assert FlowAggregate.from_dict(total.to_dict()) == total


# --- FlowRecord as a value -------------------------------------------------------------------

def test_it_round_trips_a_record_through_a_dict() -> None:
    assert FlowRecord.from_dict(PAYMENTS_TO_LEDGER.to_dict()) == PAYMENTS_TO_LEDGER


def test_it_refuses_a_record_dict_with_an_unknown_verdict() -> None:
    data = PAYMENTS_TO_LEDGER.to_dict() | {"verdict": "MAYBE"}

    with pytest.raises(ValueError, match="verdict must be one of"):
        FlowRecord.from_dict(data)


def test_it_prints_a_record_as_one_readable_line() -> None:
    assert str(PAYMENTS_TO_LEDGER) == ("2026-11-26T03:00:00Z 10.1.0.5:49152 -> 10.2.0.7:5432 "
                                       "tcp ACCEPT 10 pkt 1000 B rule 'allow-ledger' at node-01")


def test_it_is_immutable() -> None:
    with pytest.raises(AttributeError):
        PAYMENTS_TO_LEDGER.verdict = "DROP"  # type: ignore[misc]


def _minutes(aggregator: FlowAggregator, **kwargs: int) -> list[tuple[str, datetime]]:
    return sorted((b.source_format, datetime.fromtimestamp(b.start, UTC))
                  for b in aggregator.pop_buckets(**kwargs))


def test_settled_buckets_are_taken_out_and_the_recent_ones_kept() -> None:
    aggregator = FlowAggregator(60)
    aggregator.add_records([later(PAYMENTS_TO_LEDGER, 60 * m) for m in range(5)])

    settled = _minutes(aggregator, keep_seconds=120)

    assert settled == [("kernel_log", T0), ("kernel_log", T0 + timedelta(minutes=1))]
    assert [row[0] for row in sorted(aggregator.rows())] == [
        T0 + timedelta(minutes=m) for m in (2, 3, 4)]
    assert len(_minutes(aggregator)) == 3
    assert aggregator.rows() == []


def test_buckets_settle_by_the_newest_record_of_their_own_format() -> None:
    aggregator = FlowAggregator(60)
    aggregator.add_records([PAYMENTS_TO_LEDGER,
                            later(PAYMENTS_TO_LEDGER, 600, source_format="conntrack")])

    assert _minutes(aggregator, keep_seconds=120) == []


def test_a_bucket_taken_out_starts_anew_with_its_sums_apart() -> None:
    aggregator = FlowAggregator(60)
    aggregator.add_records([PAYMENTS_TO_LEDGER, later(PAYMENTS_TO_LEDGER, 600)])
    (taken,) = aggregator.pop_buckets(keep_seconds=120)

    aggregator.add_records([later(PAYMENTS_TO_LEDGER, 5, sport=40000)])

    (late,) = [b for b in aggregator.pop_buckets() if b.start == taken.start]
    assert [sums[2] for sums in taken.groups.values()] == [1]
    assert [sums[:3] for sums in late.groups.values()] == [(10, 1000, 1)]
    assert aggregator.raw_records == 3


def test_buckets_wait_twice_as_long_as_the_latest_record_has_come() -> None:
    aggregator = FlowAggregator(60)
    # A capture window's records, as cloud flow logs mix them: ten minutes in, then the start.
    aggregator.add_records([later(PAYMENTS_TO_LEDGER, 600), PAYMENTS_TO_LEDGER,
                            later(PAYMENTS_TO_LEDGER, 1200)])

    # A record came 10 minutes late: nothing settles until 20 minutes have passed it.
    assert _minutes(aggregator, keep_seconds=120) == []
    aggregator.add_records([later(PAYMENTS_TO_LEDGER, 1500)])
    assert _minutes(aggregator, keep_seconds=120) == [("kernel_log", T0)]


def test_settling_skips_a_format_that_has_no_records_yet() -> None:
    aggregator = FlowAggregator(60)
    aggregator.add_rows([], "aws_vpc")
    aggregator.add_records([PAYMENTS_TO_LEDGER, later(PAYMENTS_TO_LEDGER, 600)])

    assert _minutes(aggregator, keep_seconds=120) == [("kernel_log", T0)]
