"""A throwaway PostgreSQL server for the tests and scripts/bench_data.py: initdb into a temp folder, pg_ctl start
on a free local port with password authentication (scram-sha-256, a random password given only through
PGPASSWORD), tables loaded through ADBC's bulk ingest, pg_ctl stop and the folder removed at the end.

Debian's `postgresql` package (scripts/setup_system.sh) puts the binaries under /usr/lib/postgresql/<ver>/bin, not
on PATH. PostgreSQL refuses to run as root: as root the server runs as the user `nobody` (runuser).
`why_unavailable()` says why a server cannot start here (the tests skip with that reason)."""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pandas as pd
import pyarrow as pa

RUN_AS = "nobody"


def pg_bin() -> Path | None:
    """The newest installed server's bin folder (Debian layout), else the folder of a pg_ctl on PATH."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("pg_ctl")
    return Path(on_path).parent if on_path else None


def why_unavailable() -> str | None:
    if pg_bin() is None:
        return "PostgreSQL is not installed (apt-get install postgresql: scripts/setup_system.sh)"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root without runuser: PostgreSQL will not run as root"
    try:
        import adbc_driver_postgresql  # noqa: F401
    except ImportError:
        return "adbc-driver-postgresql is not installed"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    """Start with `start()`, stop with `stop()` (also as a context manager)."""

    def __init__(self, user: str = "cx", database: str = "postgres"):
        self.user, self.database = user, database
        self.password = "pw-" + secrets.token_hex(12)
        self.port = _free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="cxpredict-pg-"))
        self.bin = pg_bin()

    @property
    def url(self) -> str:
        """The URL without the password (the password comes from PGPASSWORD)."""
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{self.database}"

    def _run(self, *args: str) -> None:
        command = [str(self.bin / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", RUN_AS, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode:
            raise RuntimeError(f"{' '.join(args[:2])} failed ({done.returncode}): {done.stderr[-2000:]}")

    def start(self) -> PostgresServer:
        pwfile = self.folder / "pw"
        pwfile.write_text(self.password)
        if os.geteuid() == 0:
            shutil.chown(self.folder, RUN_AS)
            shutil.chown(pwfile, RUN_AS)
        self.folder.chmod(0o700)
        self._run("initdb", "-D", str(self.folder / "data"), "-U", self.user, f"--pwfile={pwfile}",
                  "-A", "scram-sha-256", "-E", "UTF8", "--locale=C")
        pwfile.unlink()
        self._run("pg_ctl", "-D", str(self.folder / "data"), "-l", str(self.folder / "log"), "-w", "-t", "60",
                  "-o", f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off", "start")
        return self

    def stop(self) -> None:
        try:
            if (self.folder / "data" / "postmaster.pid").exists():
                self._run("pg_ctl", "-D", str(self.folder / "data"), "-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def connect(self):
        import adbc_driver_postgresql.dbapi as pg

        secret = self.url.replace(f"{self.user}@", f"{self.user}:{self.password}@")  # the helper's own login only
        return pg.connect(secret, autocommit=True)

    def load(self, name: str, frame: pd.DataFrame | pa.Table, append: bool = False) -> None:
        """Create (or replace) table `name` holding `frame`, or `append` the rows to it."""
        table = frame if isinstance(frame, pa.Table) else pa.Table.from_pandas(frame, preserve_index=False)
        with self.connect() as conn, conn.cursor() as cur:
            if not append:
                cur.execute(f'DROP TABLE IF EXISTS "{name}" CASCADE')
            cur.adbc_ingest(name, table, mode="append" if append else "create")

    def execute(self, sql: str) -> None:
        with self.connect() as conn, conn.cursor() as cur:
            cur.execute(sql)
