"""Ingest an offline bundle."""

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from collectors.bundle import BundleError
from webapp.rules.bundle import BundleRejected, ingest_bundle

MAX_SHOWN = 20


class Command(BaseCommand):
    """Load a bundle directory through the same services the ingest API uses."""

    help = ("Ingest an offline bundle DIR (inventory.yaml, intent versions, "
            "hosts/<host>/<UTC time>/ "
            "dumps, flows/<host>.<source>.<ext>; see docs/lab.md). One transaction: a file "
            "that cannot be read stops it with FILE:LINE and nothing is applied. Ingesting the "
            "same bundle again changes nothing.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("directory", type=Path, help="the bundle directory")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            summary = ingest_bundle(options["directory"])
        except (BundleError, BundleRejected) as exc:
            raise CommandError(f"{options['directory']}/{exc}") from None
        inventory = summary.inventory
        if inventory is not None:
            self.stdout.write(
                f"inventory: hosts {inventory.hosts_created} created, {inventory.hosts_updated}"
                f" updated; workloads {inventory.workloads_created} created, "
                f"{inventory.workloads_updated} updated, {inventory.workloads_stopped} stopped, "
                f"{inventory.workloads_unchanged} unchanged")
        if summary.intents:
            self.stdout.write(f"intent versions {', '.join(summary.intents)}: "
                              f"{summary.intents_created} stored, "
                              f"{summary.intents_known} already known")
        self.stdout.write(f"snapshots: {summary.snapshots_created} created, "
                          f"{summary.snapshots_known} already known")
        self.stdout.write(f"flow logs: {summary.flow_batches_created} batches created "
                          f"({summary.flow_records_written} records), "
                          f"{summary.flow_batches_known} already known")
        for line in summary.bad_flow_lines[:MAX_SHOWN]:
            self.stderr.write(f"skipped {line}")
        for line in summary.warnings[:MAX_SHOWN]:
            self.stderr.write(f"warning {line}")
        hidden = max(0, len(summary.bad_flow_lines) - MAX_SHOWN) + max(
            0, len(summary.warnings) - MAX_SHOWN)
        if hidden:
            self.stderr.write(f"… and {hidden} more skipped lines and warnings")
