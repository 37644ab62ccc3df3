"""Flow-log parsers: AWS VPC, GCP VPC, Azure NSG, Cilium Hubble, conntrack, ulogd2 JSON and
kernel LOG lines into FlowRecords, and their aggregation."""

from collectors.flowlogs.aggregate import (
    AGGREGATE_COLUMNS,
    FlowAggregate,
    FlowAggregator,
    IngestReport,
    aggregate,
)
from collectors.flowlogs.detect import FORMATS, UnknownFormatError, detect_format, parse_any
from collectors.flowlogs.record import FlowRecord
from collectors.flowlogs.result import LineError, ParseResult

__all__ = [
    "AGGREGATE_COLUMNS", "FORMATS", "FlowAggregate", "FlowAggregator", "FlowRecord",
    "IngestReport", "LineError", "ParseResult", "UnknownFormatError", "aggregate",
    "detect_format", "parse_any",
]
