"""Database connection pools a forked child inherits are left alone there, never used.

A child of fork() (multiprocessing, a Celery prefork child) inherits its parent's pooled
PostgreSQL connections: using their sockets beside the parent garbles both conversations, and
closing them would end the parent's sessions, as a connection's close tells the server. The
child keeps them aside, untouched for its whole life, and opens a pool of its own."""

from __future__ import annotations

import os

from django.db.backends.postgresql.base import DatabaseWrapper

# Referenced for the child's life: a collected connection would close, ending the parent's.
_inherited: list[object] = []


def _leave_pools_behind() -> None:
    pools = DatabaseWrapper._connection_pools  # type: ignore[attr-defined]
    _inherited.extend(pools.values())
    pools.clear()


def install() -> None:
    """Leave the pools behind in every child forked from now on."""
    os.register_at_fork(after_in_child=_leave_pools_behind)
