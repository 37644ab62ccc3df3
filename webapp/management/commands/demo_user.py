"""Create the demo administrator."""

import os
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    """Create or reset the superuser `admin` with the password from DEMO_PASSWORD."""

    help = "Create or reset the demo superuser 'admin' (password: DEMO_PASSWORD, default segscope)."

    def handle(self, *args: Any, **options: Any) -> None:
        # A well-known password must never reach a deployment, and deployments run with DEBUG off.
        if not settings.DEBUG:
            raise CommandError("demo_user only runs with DEBUG on: it sets a published password")
        password = os.environ.get("DEMO_PASSWORD") or "segscope"
        user, created = get_user_model().objects.get_or_create(username="admin")
        user.is_staff = True
        user.is_superuser = True
        user.set_password(password)
        user.save()
        verb = "Created" if created else "Reset"
        self.stdout.write(f"{verb} demo user: admin / {password}")
