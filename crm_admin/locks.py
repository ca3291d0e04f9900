"""Named locks held until the current transaction ends: one way to serialise a piece of work
(two imports of one model, two stages picking a position) on either database."""

import hashlib

from django.db import DEFAULT_DB_ALIAS, connections


def lock_key(name: str) -> int:
    """The PostgreSQL advisory lock key of `name`: a signed 64-bit number, the same in every
    process (unlike Python's hash())."""
    digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def transaction_lock(name: str, *, using: str = DEFAULT_DB_ALIAS) -> None:
    """Wait for and take the lock `name` until the current transaction ends.

    PostgreSQL: a transaction-scoped advisory lock (one query, which waits while another
    transaction holds it). SQLite: no query, since its transactions begin IMMEDIATE
    (settings.py) and so already hold the database's only write lock.
    """
    connection = connections[using]
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [lock_key(name)])
