"""Rules models: snapshots of hosts' dumps, rejected uploads, and the parsed rows."""

from webapp.rules.models.parsed import ParsedChain, ParsedRule, ParsedSet, ParsedTable
from webapp.rules.models.snapshots import RejectedUpload, Snapshot

__all__ = [
    "ParsedChain", "ParsedRule", "ParsedSet", "ParsedTable", "RejectedUpload", "Snapshot",
]
