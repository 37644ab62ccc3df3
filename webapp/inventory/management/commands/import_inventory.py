"""Import an inventory file."""

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from collectors.inventory import FORMATS, InventoryError, parse_inventory
from webapp.inventory.services import apply_inventory


class Command(BaseCommand):
    """Make hosts and workloads match an inventory file."""

    help = ("Import hosts and workloads from a Segscope YAML/JSON inventory, `kubectl get pods "
            "-A -o json` or `docker inspect` output (FILE, or - for stdin). Importing the same "
            "file again changes nothing; workloads it no longer lists on its hosts are stopped.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="the inventory file, or - to read stdin")
        parser.add_argument("--format", default="auto", choices=["auto", *FORMATS],
                            help="the file's format (default: detected)")
        parser.add_argument("--host", help="the host a `docker inspect` output comes from")

    def handle(self, *args: Any, **options: Any) -> None:
        name = options["file"]
        try:
            text = sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()
        except OSError as exc:
            raise CommandError(f"cannot read {name}: {exc.strerror}") from None
        try:
            inventory = parse_inventory(text, "<stdin>" if name == "-" else name,
                                        fmt=options["format"], host=options["host"])
        except InventoryError as exc:
            raise CommandError(str(exc)) from None
        summary = apply_inventory(inventory)
        self.stdout.write(
            f"{summary.format} inventory: hosts {summary.hosts_created} created, "
            f"{summary.hosts_updated} updated; workloads {summary.workloads_created} created, "
            f"{summary.workloads_updated} updated, {summary.workloads_stopped} stopped, "
            f"{summary.workloads_unchanged} unchanged")
