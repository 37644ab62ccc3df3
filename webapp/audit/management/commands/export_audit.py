"""Write an audit export of the stored fleet at a time."""

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from collectors.bundle import BundleError
from collectors.errors import ParseError
from webapp.audit.export import export_audit
from webapp.engine.audit.archive import ArchiveError
from webapp.rules.management.commands.export_bundle import moment

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz")


class Command(BaseCommand):
    """The audit export at --at into DIR (a folder), or into DIR.tar.gz (the archive)."""

    help = ("Write the audit export of the fleet at --at: the raw dumps (a bundle with every "
            "snapshot up to then), the graph with its evidence, drift, convergence, the intent "
            "version, CSV tables and manifest.json with the SHA-256 of every file. DIR is a "
            "folder that must not exist or be empty; a name ending in .tar.gz or .tgz gets the "
            "archive the REST API serves. `segscope verify-audit` checks either.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("directory", type=Path, metavar="DIR",
                            help="folder to write, or FILE.tar.gz")
        parser.add_argument("--at", default="now", metavar="TIME",
                            help="ISO 8601 time with a zone, e.g. 2026-11-26T04:59:37Z "
                                 "(default: now)")

    def handle(self, *args: Any, **options: Any) -> None:
        at = moment(options["at"])
        target: Path = options["directory"]
        archive_file = target.name.endswith(ARCHIVE_SUFFIXES)
        if archive_file and target.exists():
            raise CommandError(f"{target}: exists")
        try:
            archive = export_audit(at, via="command")
            if archive_file:
                target.write_bytes(archive.tar_gz())
            else:
                archive.write_tree(target)
        except (BundleError, ParseError, ArchiveError) as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"wrote {target} at {at.isoformat()}: {len(archive.files)} files")
