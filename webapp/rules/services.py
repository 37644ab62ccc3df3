"""Rules services: snapshot ingest (idempotent, atomic), heartbeats, and snapshot diffs."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Value
from django.db.models.functions import Coalesce, Greatest
from django.dispatch import Signal
from django.utils import timezone

from webapp.bulk import insert_rows
from webapp.inventory.models import Host
from webapp.rules.dumps import (
    DUMP_ERRORS,
    ParsedDumps,
    RuleRow,
    SetRow,
    content_hash,
    error_dict,
    parse_dumps,
)
from webapp.rules.models import (
    ParsedChain,
    ParsedRule,
    ParsedSet,
    ParsedTable,
    RejectedUpload,
    Snapshot,
)

logger = logging.getLogger(__name__)

_RULE_FIELDS = ("snapshot", *RuleRow._fields)


class SnapshotRejected(Exception):
    """A snapshot whose dumps could not be parsed; the upload was kept as `upload_id`."""

    def __init__(self, error: dict[str, object], upload_id: int) -> None:
        super().__init__(f"{error['file']}:{error['line']}:{error['column']}: {error['reason']}")
        self.error, self.upload_id = error, upload_id


# Sent after a new snapshot commits (host_id): the analysis app asks for the host's analysis.
snapshot_stored = Signal()

@dataclass(frozen=True, slots=True)
class SnapshotReceipt:
    """The answer to a snapshot upload: which snapshot holds it and whether it is new."""

    snapshot_id: int
    content_hash: str
    created: bool
    warnings: list[dict[str, object]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"snapshot": self.snapshot_id, "hash": self.content_hash,
                                "status": "created" if self.created else "seen-again"}
        if self.created:
            data["warnings"] = self.warnings
        return data


def ingest_snapshot(host: Host, collected_at: datetime, dumps: Mapping[str, str],
                    raw: Mapping[str, Any]) -> SnapshotReceipt:
    """Store a host's dumps as a new snapshot in one transaction, or only re-stamp the host's
    latest snapshot when the content is identical. Raises SnapshotRejected (the upload kept)
    when a dump cannot be parsed, TooManyRules past SEGSCOPE_MAX_RULES."""
    digest = content_hash(dumps)
    now = timezone.now()
    if _restamp_latest(host, digest, collected_at, now):
        return SnapshotReceipt(host.last_snapshot_id or 0, digest, created=False)
    try:
        parsed = parse_dumps(dumps, max_rules=settings.SEGSCOPE_MAX_RULES)
    except DUMP_ERRORS as exc:
        error = error_dict(exc)
        upload = RejectedUpload.objects.create(host=host, received_at=now, raw=dict(raw),
                                               error=error)
        Host.objects.filter(pk=host.pk).update(last_seen_at=now)
        raise SnapshotRejected(error, upload.pk) from None
    with transaction.atomic():
        # The host row lock serialises uploads of one host: a duplicate racing this one sees
        # the committed snapshot and is re-stamped instead of stored twice.
        locked = Host.objects.select_for_update().only("last_snapshot").get(pk=host.pk)
        # Read after the lock, by a query of its own: one joined to the locking query would
        # not see a snapshot that the request holding the lock before has just committed.
        latest = None if locked.last_snapshot_id is None else Snapshot.objects.only(
            "content_hash", "collected_at").get(pk=locked.last_snapshot_id)
        if latest is not None and latest.content_hash == digest:
            _restamp_latest(locked, digest, collected_at, now)
            return SnapshotReceipt(latest.pk, digest, created=False)
        snapshot = Snapshot.objects.create(
            host=locked, content_hash=digest, collected_at=collected_at, received_at=now,
            last_seen_at=collected_at, dumps=dict(dumps), warnings=parsed.warnings,
            rule_count=len(parsed.rules), set_count=len(parsed.sets))
        write_parsed_rows(snapshot, parsed)
        updates: dict[str, Any] = {"last_seen_at": now,
                                   "analysis_due_at": Coalesce("analysis_due_at", Value(now))}
        if latest is None or collected_at >= latest.collected_at:
            updates["last_snapshot"] = snapshot
        Host.objects.filter(pk=locked.pk).update(**updates)
        transaction.on_commit(lambda: snapshot_stored.send(Snapshot, host_id=locked.pk))
    return SnapshotReceipt(snapshot.pk, digest, created=True, warnings=parsed.warnings)


def _restamp_latest(host: Host, digest: str, seen_at: datetime, now: datetime) -> bool:
    """Move the host's latest snapshot's last_seen_at if it holds `digest`; True if it did."""
    if host.last_snapshot_id is None:
        return False
    found = Snapshot.objects.filter(pk=host.last_snapshot_id, content_hash=digest).update(
        last_seen_at=Greatest("last_seen_at", Value(seen_at)))
    if found:
        Host.objects.filter(pk=host.pk).update(last_seen_at=now)
    return found == 1


def write_parsed_rows(snapshot: Snapshot, parsed: ParsedDumps) -> None:
    """Write a snapshot's tables, chains, rules and sets."""
    ParsedTable.objects.bulk_create(
        [ParsedTable(snapshot=snapshot, **row._asdict()) for row in parsed.tables])
    ParsedChain.objects.bulk_create(
        [ParsedChain(snapshot=snapshot, **row._asdict()) for row in parsed.chains])
    write_rules(snapshot, parsed.rules)
    write_sets(snapshot, parsed.sets)


def write_rules(snapshot: Snapshot, rules: list[RuleRow]) -> None:
    """Write a snapshot's rules; COPY on PostgreSQL (thousands per snapshot, every host)."""
    snapshot_id = snapshot.pk
    insert_rows(ParsedRule, _RULE_FIELDS, ((snapshot_id, *rule) for rule in rules))


def write_sets(snapshot: Snapshot, sets: list[SetRow]) -> None:
    """Write a snapshot's sets, members in one JSON list per set."""
    ParsedSet.objects.bulk_create(
        [ParsedSet(snapshot=snapshot, source=s.source, family=s.family, table=s.table,
                   name=s.name, type=s.type, line=s.line, member_count=len(s.members),
                   members=s.members) for s in sets],
        batch_size=500)


def record_heartbeat(host: Host, sent_at: datetime, digest: str) -> bool:
    """Note that a host still holds `digest`; True when that is its latest snapshot's content
    (False tells the agent to send the whole snapshot)."""
    now = timezone.now()
    if _restamp_latest(host, digest, sent_at, now):
        return True
    Host.objects.filter(pk=host.pk).update(last_seen_at=now)
    return False


@dataclass(frozen=True, slots=True)
class RuleLine:
    """A rule as a diff sees it: its chain, position and text (counters left out)."""

    family: str
    table: str
    chain: str
    position: int
    text: str

    def to_dict(self) -> dict[str, object]:
        return {"position": self.position, "text": self.text}


@dataclass(frozen=True, slots=True)
class ChainDiff:
    """The rules one chain gained and lost between two snapshots."""

    family: str
    table: str
    chain: str
    added: tuple[RuleLine, ...]
    removed: tuple[RuleLine, ...]

    def to_dict(self) -> dict[str, object]:
        return {"family": self.family, "table": self.table, "chain": self.chain,
                "added": [r.to_dict() for r in self.added],
                "removed": [r.to_dict() for r in self.removed]}


def diff_rules(before: Iterable[RuleLine], after: Iterable[RuleLine]) -> list[ChainDiff]:
    """Per chain, the rules of `after` not in `before` (added) and the reverse (removed),
    compared by text as multisets; chains without a difference are left out."""
    old = _by_chain(before)
    new = _by_chain(after)
    result = []
    for key in sorted(old.keys() | new.keys()):
        added = _missing_from(new.get(key, []), old.get(key, []))
        removed = _missing_from(old.get(key, []), new.get(key, []))
        if added or removed:
            result.append(ChainDiff(*key, added=added, removed=removed))
    return result


def _by_chain(rules: Iterable[RuleLine]) -> dict[tuple[str, str, str], list[RuleLine]]:
    chains: dict[tuple[str, str, str], list[RuleLine]] = {}
    for rule in rules:
        chains.setdefault((rule.family, rule.table, rule.chain), []).append(rule)
    return chains


def _missing_from(rules: list[RuleLine], other: list[RuleLine]) -> tuple[RuleLine, ...]:
    """The rules whose text `other` does not hold as many times (a rule twice is two rules)."""
    available = Counter(r.text for r in other)
    missing = []
    for rule in rules:
        if available[rule.text]:
            available[rule.text] -= 1
        else:
            missing.append(rule)
    return tuple(missing)


class DifferentHosts(ValueError):
    """Two snapshots of different hosts have no meaningful rule diff."""


def snapshot_diff(snapshot: Snapshot, against: Snapshot) -> list[ChainDiff]:
    """What changed in the rules from `against` to `snapshot`, two snapshots of one host."""
    if snapshot.host_id != against.host_id:
        raise DifferentHosts(
            f"snapshot {snapshot.pk} is of host {snapshot.host_id}, "
            f"snapshot {against.pk} of host {against.host_id}")
    return diff_rules(_rule_lines(against), _rule_lines(snapshot))


def _rule_lines(snapshot: Snapshot) -> list[RuleLine]:
    rows = ParsedRule.objects.filter(snapshot=snapshot).order_by("id").values_list(
        "family", "table", "chain", "position", "text")
    return [RuleLine(*row) for row in rows]
