"""Connections to a pgstac database, checked before use: it answers, it has pgstac, and a pgstac
version this project's pypgstac speaks. Every failure is one line naming what to do."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import psycopg
from pypgstac.version import __version__ as PYPGSTAC_VERSION

from publisher.errors import DevscoreError

#: Seconds to wait for the server before saying it does not answer.
CONNECT_TIMEOUT_S = 5
#: Settings of every session: pgstac's functions live in schema pgstac.
SESSION_OPTIONS = "-c search_path=pgstac,public -c application_name=devscore"


class PgstacError(DevscoreError):
    """A pgstac database that cannot be used as asked."""


def redact(dsn: str) -> str:
    """The DSN without its password, for messages."""
    parts = urlsplit(dsn)
    if parts.password:
        return dsn.replace(f":{parts.password}@", ":***@", 1)
    return re.sub(r"password=\S+", "password=***", dsn)


def _major_minor(version: str) -> tuple[int, ...] | None:
    match = re.match(r"(\d+)\.(\d+)", version)
    return tuple(int(v) for v in match.groups()) if match else None


#: The pgstac versions this project reads and writes: those of its pypgstac's major.minor.
KNOWN_VERSION = _major_minor(PYPGSTAC_VERSION)


def connect(dsn: str, autocommit: bool = True) -> psycopg.Connection:
    """An open, checked connection to ``dsn`` (PgstacError when it cannot be used)."""
    if not dsn.startswith(("postgresql://", "postgres://")) and "=" not in dsn:
        raise PgstacError(f"{redact(dsn)!r} is not a PostgreSQL DSN: give postgresql://user@host:port/database")
    try:
        conn = psycopg.connect(dsn, autocommit=autocommit, connect_timeout=CONNECT_TIMEOUT_S, options=SESSION_OPTIONS)
    except psycopg.Error as exc:
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        reason = lines[0].rsplit("failed: ", 1)[-1] if lines else type(exc).__name__
        raise PgstacError(f"cannot connect to {redact(dsn)}: {reason}") from None
    try:
        check(conn, dsn)
    except BaseException:
        conn.close()
        raise
    return conn


def check(conn: psycopg.Connection, dsn: str) -> str:
    """The database's pgstac version, or PgstacError when it has none or one this project does not know."""
    with conn.cursor() as cur:
        has = cur.execute("SELECT to_regprocedure('pgstac.get_version()') IS NOT NULL").fetchone()[0]
        if not has:
            raise PgstacError(f"database {redact(dsn)} has no pgstac: run `pypgstac migrate --dsn {redact(dsn)}` "
                              "(or scripts/pgstac-db.sh start DIR for a local one)")
        version = cur.execute("SELECT pgstac.get_version()").fetchone()[0]
    if version != "unreleased" and _major_minor(str(version)) != KNOWN_VERSION:
        raise PgstacError(f"database {redact(dsn)} has pgstac {version}; this devscore speaks pgstac "
                          f"{'.'.join(map(str, KNOWN_VERSION))}.x (pypgstac {PYPGSTAC_VERSION}): run "
                          f"`pypgstac migrate --dsn {redact(dsn)}` or use a matching devscore")
    return str(version)
