"""A database of its own for a benchmark: dropped, created and migrated at every run, so that
benchmarks never touch the test or demo data."""

from __future__ import annotations

import os

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/segscope_bench"


class _Reused(Exception):
    """The database of a previous run is wanted as it is."""


def fresh_database(label: str, url: str | None = None, reuse: bool = False) -> bool:
    """Point Django at a new database (`url`, else BENCH_DATABASE_URL, else segscope_bench)
    and migrate it (`reuse`: the one a previous run left); False, with a line saying why
    `label` is skipped, when PostgreSQL is not there."""
    url = url or os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    try:
        if reuse:
            raise _Reused
        import psycopg

        name = url.rsplit("/", 1)[1]
        with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
            # A new database each run: rows and dead tuples of earlier runs would slow this one.
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
    except _Reused:
        pass
    except Exception as exc:  # noqa: BLE001 - any reason PostgreSQL is not there
        print(f"{label} (skipped: PostgreSQL not reachable at {url}: {exc})")
        return False
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    return True


def sibling_url(suffix: str) -> str:
    """The benchmark database's URL with `suffix` added to its name (one per benchmark)."""
    return os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL) + suffix
