"""Benchmark databases, from a parent process before Django starts: a SQLite file, or a
database on the server of a postgres:// URL (reached through its `postgres` database), and the
child process that measures on one of them."""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

POSTGRES_SCHEMES = ("postgres://", "postgresql://", "pgsql://")


def is_postgres(url: str) -> bool:
    return url.startswith(POSTGRES_SCHEMES)


def _pg_admin(url: str):
    import psycopg

    parts = urlsplit(url)
    conninfo = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
    return psycopg.connect(conninfo, autocommit=True), parts.path.lstrip("/")


def exists(url: str) -> bool:
    if is_postgres(url):
        connection, name = _pg_admin(url)
        with connection:
            found = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
            return found.fetchone() is not None
    return Path(urlsplit(url).path).exists()


def create(url: str) -> None:
    """Create the PostgreSQL database of `url` (SQLite creates its file on first use)."""
    if is_postgres(url):
        connection, name = _pg_admin(url)
        with connection:
            connection.execute(f'CREATE DATABASE "{name}"')


def drop(url: str) -> None:
    """Drop the database of `url`, or delete the SQLite file and its journals."""
    if is_postgres(url):
        connection, name = _pg_admin(url)
        with connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        return
    path = urlsplit(url).path
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def recreate(url: str) -> None:
    drop(url)
    create(url)


def run_child(script: str, url: str, arguments: list[str]) -> dict:
    """Run `script --child ... --json-out FILE` against the database of `url` and return the
    JSON it wrote. Settings read DATABASE_URL once, at startup: hence a process per database.
    DEBUG=1 only for loading settings (no secret, plain static files); children measure with
    DEBUG off. Raises CalledProcessError when the child fails (its error is on stderr)."""
    root = Path(__file__).resolve().parent.parent
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        out = Path(handle.name)
    command = [sys.executable, script, "--child", *arguments, "--json-out", str(out)]
    env = {**os.environ, "DATABASE_URL": url, "DEBUG": "1", "PYTHONPATH": str(root)}
    try:
        subprocess.run(command, cwd=root, env=env, check=True)
        return json.loads(out.read_text())
    finally:
        out.unlink(missing_ok=True)
