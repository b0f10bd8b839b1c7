"""The PostgreSQL/pgstac the pgstac tests use: started once per session by scripts/pgstac-db.sh (which
installs Debian's PostgreSQL/PostGIS when absent), one fresh database per test cloned from the
migrated one."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "pgstac-db.sh"
INITDB = Path("/usr/lib/postgresql/15/bin/initdb")


@dataclass(frozen=True)
class PgstacServer:
    """A running cluster: its folder and the DSN of its migrated database."""

    folder: Path
    dsn: str

    def script(self, command: str) -> subprocess.CompletedProcess:
        """Run scripts/pgstac-db.sh COMMAND on this cluster's folder."""
        return subprocess.run(["bash", str(SCRIPT), command, str(self.folder)], capture_output=True, text=True,
                              env={**os.environ, "PYTHON": sys.executable}, timeout=600)

    def admin(self, sql: str) -> None:
        """Run one statement in the cluster's maintenance database."""
        import psycopg

        with psycopg.connect(self.dsn.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
            conn.execute(sql)


@pytest.fixture(scope="session")
def pgstac_server() -> Iterator[PgstacServer]:
    """The session's PostgreSQL + pgstac, stopped and removed at the end."""
    if os.geteuid() != 0 and not INITDB.exists():
        pytest.skip("PostgreSQL is not installed and installing it needs root")
    folder = Path(tempfile.mkdtemp(prefix="devscore-pgstac-"))  # under /tmp: user postgres can enter it
    server = PgstacServer(folder, "")
    started = server.script("start")
    if started.returncode != 0:
        pytest.fail(f"scripts/pgstac-db.sh start failed: {started.stderr[-2000:]}")
    server = PgstacServer(folder, started.stdout.strip().splitlines()[-1])
    try:
        yield server
    finally:
        server.script("stop")
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def pgstac_dsn(pgstac_server: PgstacServer) -> Iterator[str]:
    """A fresh migrated pgstac database of its own (a copy of the session's), dropped after the test."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    template = pgstac_server.dsn.rsplit("/", 1)[1]
    pgstac_server.admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    try:
        yield pgstac_server.dsn.rsplit("/", 1)[0] + f"/{name}"
    finally:
        pgstac_server.admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
