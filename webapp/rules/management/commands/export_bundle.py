"""Export an offline bundle for a point in time."""

from datetime import datetime
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from collectors.bundle import BundleError
from webapp.rules.bundle import export_bundle


def moment(text: str) -> datetime:
    """An ISO 8601 time with a zone (`2026-11-26T03:00:05Z`), or `now`."""
    if text == "now":
        return timezone.now()
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise CommandError(f"--at: not an ISO 8601 time: {text!r}") from None
    if at.tzinfo is None:
        raise CommandError(f"--at: {text} has no time zone; add Z or an offset")
    return at


class Command(BaseCommand):
    """Write the fleet as it was at a time into a bundle directory."""

    help = ("Write a bundle (the layout `manage.py ingest` reads) into DIR, which must not exist "
            "or be empty: each host's latest snapshot at or before --at (all of them with "
            "--history), the inventory of workloads running then (with --history also those "
            "stopped by then), the intent versions published by then, and flow records up to "
            "it.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("directory", type=Path, help="where to write the bundle")
        parser.add_argument("--at", default="now", metavar="TIME",
                            help="ISO 8601 time with a zone, e.g. 2026-11-26T03:00:05Z "
                                 "(default: now)")
        parser.add_argument("--history", action="store_true",
                            help="every snapshot at or before TIME, not only the latest, "
                                 "and the workloads stopped by then")

    def handle(self, *args: Any, **options: Any) -> None:
        at = moment(options["at"])
        try:
            summary = export_bundle(options["directory"], at, history=options["history"])
        except BundleError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"wrote {options['directory']} at {at.isoformat()}: {summary.hosts} hosts, "
            f"{summary.workloads} workloads, {summary.snapshots} snapshots, "
            f"{summary.flow_records} flow records, {summary.intents} intent versions "
            f"({summary.files} files)")
