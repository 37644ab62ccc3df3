"""What a snapshot's dumps hold once parsed: tables, chains, rules and sets, in dump order."""

from __future__ import annotations

from django.db import models

from webapp.rules.models.snapshots import Snapshot

# `source` names the dump a row comes from (iptables-save, ip6tables-save, ipset-save, nft.json);
# `family` is ipv4/ipv6 for the iptables dumps and the nft family (ip, ip6, inet, ...) for nft.


class ParsedTable(models.Model):
    """One table of one dump."""

    snapshot = models.ForeignKey(Snapshot, on_delete=models.CASCADE, related_name="tables")
    source = models.CharField(max_length=32)
    family = models.CharField(max_length=8)
    name = models.CharField(max_length=255)
    line = models.PositiveIntegerField()
    chain_count = models.PositiveIntegerField(default=0)
    rule_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.family} {self.name}"


class ParsedChain(models.Model):
    """One chain: built-in with its policy and counters, or a user chain (policy empty)."""

    snapshot = models.ForeignKey(Snapshot, on_delete=models.CASCADE, related_name="chains")
    source = models.CharField(max_length=32)
    family = models.CharField(max_length=8)
    table = models.CharField(max_length=255)
    name = models.CharField(max_length=255)
    policy = models.CharField(max_length=16, blank=True)
    hook = models.CharField(max_length=16, blank=True)
    packets = models.BigIntegerField(null=True, blank=True)
    bytes = models.BigIntegerField(null=True, blank=True)
    line = models.PositiveIntegerField()
    rule_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.family} {self.table} {self.name}"


class ParsedRule(models.Model):
    """One rule at its position in its chain, with the text and counters the dump gave."""

    # Only the snapshot is indexed: every ingest writes thousands of rules and each index costs
    # it; queries name a snapshot, whose few thousand rules are then filtered cheaply. No
    # database-level constraint: PostgreSQL would check it row by row at commit (a third of a
    # snapshot's ingest time); rules are only written with the snapshot that owns them, in its
    # transaction, and the ORM cascades a snapshot's deletion to them.
    snapshot = models.ForeignKey(Snapshot, on_delete=models.CASCADE, related_name="rules",
                                 db_constraint=False)
    source = models.CharField(max_length=32)
    family = models.CharField(max_length=8)
    table = models.CharField(max_length=255)
    chain = models.CharField(max_length=255)
    position = models.PositiveIntegerField()
    line = models.PositiveIntegerField()
    text = models.TextField()
    target = models.CharField(max_length=255, blank=True)
    packets = models.BigIntegerField(null=True, blank=True)
    bytes = models.BigIntegerField(null=True, blank=True)

    class Meta:
        # Rows are written in dump order, so the primary key is table, chain, position order.
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.table} {self.chain} #{self.position}: {self.text}"


class ParsedSet(models.Model):
    """One ipset or nft set with its members, as element texts in one JSON list."""

    # Members live in one JSON list per set rather than a row each: sets of thousands of
    # addresses on every host would multiply the rows an ingest writes by that much.
    snapshot = models.ForeignKey(Snapshot, on_delete=models.CASCADE, related_name="sets",
                                 db_index=False)
    source = models.CharField(max_length=32)
    family = models.CharField(max_length=8, blank=True)
    table = models.CharField(max_length=255, blank=True)
    name = models.CharField(max_length=255)
    type = models.CharField(max_length=255)
    line = models.PositiveIntegerField()
    member_count = models.PositiveIntegerField(default=0)
    members = models.JSONField(default=list)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["snapshot", "name"], name="set_name")]

    def __str__(self) -> str:
        return self.name
