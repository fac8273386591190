"""A throwaway, *durable* PostgreSQL server for the benchmark.

Same approach as ``tests/support/postgres.py`` (the machine's own binaries; as root the server runs
as the ``postgres`` system user in a temporary directory it owns), but with the settings the
performance budget is stated for: fsync on, synchronous_commit on, full_page_writes on,
shared_buffers=1GB, max_connections=200, max_wal_size=4GB. It listens on 127.0.0.1 and on a Unix
socket in its directory; every client of the benchmark (the service, the asyncpg driver run and
pgbench) uses the Unix socket, so all three pay the same transport.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

SEARCH = [
    "/usr/lib/postgresql/15/bin",
    "/usr/lib/postgresql/16/bin",
    "/usr/lib/postgresql/17/bin",
    "/usr/local/bin",
    "/usr/bin",
]

DURABLE_SETTINGS = {
    "fsync": "on",
    "synchronous_commit": "on",
    "full_page_writes": "on",
    "shared_buffers": "1GB",
    "max_connections": "200",
    "max_wal_size": "4GB",
}


def find_binary(name: str) -> str | None:
    # Prefer the versioned server directory: /usr/bin/pgbench is a wrapper that needs a cluster.
    for folder in SEARCH:
        candidate = Path(folder) / name
        if candidate.exists():
            return str(candidate)
    return shutil.which(name)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PostgresServer:
    directory: Path
    port: int
    pg_ctl: str
    run_as: list[str]
    version: str

    @property
    def socket_dir(self) -> str:
        return str(self.directory)

    def sqlalchemy_url(self, dbname: str) -> str:
        """asyncpg over the Unix socket, as the service will use it."""
        return f"postgresql+asyncpg://postgres@/{dbname}?host={self.socket_dir}&port={self.port}"

    def dsn(self, dbname: str) -> str:
        """A plain asyncpg/libpq DSN over the Unix socket."""
        return f"postgresql://postgres@/{dbname}?host={self.socket_dir}&port={self.port}"

    def libpq_env(self, dbname: str) -> dict[str, str]:
        return {
            "PGHOST": self.socket_dir,
            "PGPORT": str(self.port),
            "PGUSER": "postgres",
            "PGDATABASE": dbname,
        }

    def psql(self, dbname: str, sql: str) -> str:
        psql = find_binary("psql") or "psql"
        env = {**os.environ, **self.libpq_env(dbname)}
        done = subprocess.run(
            [psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-At", "-c", sql],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"psql failed: {done.stderr.strip()}")
        return done.stdout.strip()

    def postmaster_pid(self) -> int | None:
        pid_file = self.directory / "data" / "postmaster.pid"
        try:
            return int(pid_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def stop(self) -> None:
        subprocess.run(
            [
                *self.run_as,
                self.pg_ctl,
                "-D",
                str(self.directory / "data"),
                "-m",
                "fast",
                "-w",
                "-t",
                "30",
                "stop",
            ],
            capture_output=True,
            check=False,
        )
        shutil.rmtree(self.directory, ignore_errors=True)


def start(base_dir: str | None = None) -> PostgresServer:
    """initdb + pg_ctl start with durable settings; raises RuntimeError when it cannot."""
    initdb, pg_ctl, postgres = find_binary("initdb"), find_binary("pg_ctl"), find_binary("postgres")
    if not initdb or not pg_ctl or not postgres:
        raise RuntimeError("PostgreSQL server binaries (initdb, pg_ctl) were not found")
    version = subprocess.run(
        [postgres, "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    directory = Path(tempfile.mkdtemp(prefix="omnigift-bench-pg-", dir=base_dir))
    run_as: list[str] = []
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(directory, user.pw_uid, user.pw_gid)
        run_as = ["runuser", "-u", "postgres", "--"]
    data = directory / "data"
    try:
        subprocess.run(
            [*run_as, initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"],
            check=True,
            capture_output=True,
        )
        port = free_port()
        settings = " ".join(f"-c {k}={v}" for k, v in DURABLE_SETTINGS.items())
        options = f"-p {port} -c listen_addresses=127.0.0.1 -k {directory} {settings}"
        subprocess.run(
            [
                *run_as,
                pg_ctl,
                "-D",
                str(data),
                "-o",
                options,
                "-l",
                str(directory / "log"),
                "-w",
                "start",
            ],
            check=True,
            capture_output=True,
        )
    except subprocess.CalledProcessError as exc:
        log = directory / "log"
        detail = log.read_text()[-2000:] if log.exists() else (exc.stderr or b"").decode()
        shutil.rmtree(directory, ignore_errors=True)
        raise RuntimeError(f"could not start PostgreSQL: {detail}") from exc
    return PostgresServer(directory, port, pg_ctl, run_as, version)
