"""What a flow-log parser hands back: the records, and the lines it could not or need not use."""

from __future__ import annotations

from dataclasses import dataclass, field

from collectors.flowlogs.record import FlowRecord


@dataclass(frozen=True, slots=True)
class LineError:
    """A line of a flow log that was not imported, and why."""

    filename: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.filename}:{self.line}: {self.reason}"

    def to_dict(self) -> dict[str, object]:
        return {"file": self.filename, "line": self.line, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class ParseResult:
    """The records of one flow-log file, its bad lines, and the lines that carry no flow."""

    records: list[FlowRecord]
    errors: list[LineError]
    # Lines understood but holding no flow: AWS NODATA/SKIPDATA, conntrack expectations and
    # trailers, non-netfilter kernel messages, Hubble status events.
    skipped: list[LineError] = field(default_factory=list)
    source_format: str = ""
