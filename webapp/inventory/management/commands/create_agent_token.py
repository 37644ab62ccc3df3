"""Issue an agent token for a host."""

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from webapp.inventory.models import Host
from webapp.inventory.tokens import issue_agent_token


class Command(BaseCommand):
    """Create the host if it is missing and print a new token for its agent, once."""

    help = ("Issue an agent token for HOST (created if missing). The token goes to stdout and "
            "is shown only this once; the server keeps only its SHA-256.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("host", help="host name, as the agent will report it")

    def handle(self, *args: Any, **options: Any) -> None:
        with transaction.atomic():
            host, created = Host.objects.get_or_create(name=options["host"])
            _, plaintext = issue_agent_token(host, None, via="command")
        # Only the token on stdout, so that `TOKEN=$(manage.py create_agent_token h)` works.
        self.stderr.write(f"{'Created host' if created else 'Host'} {host.name}; "
                          "its new agent token (shown once):")
        self.stdout.write(plaintext)
