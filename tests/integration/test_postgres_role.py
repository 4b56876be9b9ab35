"""The jobs, the CLI and the tests reach PostgreSQL as a role with no more than they need (`argus_app`): not a
superuser, so a query that went wrong (or an injected one) cannot run programs, read the server's files or make
roles. A stack whose tables the superuser made (an earlier version) hands them to that role at `up`."""

from __future__ import annotations

from urllib.parse import urlsplit

import psycopg2
import pytest
from argus_dev.stack.postgres import APP_ROLE, DATABASE
from psycopg2 import errors, sql


def app_connection(settings):  # noqa: ANN001, ANN201
    return psycopg2.connect(settings.database_url.get_secret_value(), connect_timeout=5)


def test_the_jobs_role_is_no_superuser_and_cannot_do_what_one_can(store_settings) -> None:  # noqa: ANN001
    assert urlsplit(store_settings.database_url.get_secret_value()).username == APP_ROLE
    conn = app_connection(store_settings)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT current_user, rolsuper, rolcreaterole, rolcreatedb, rolbypassrls FROM pg_roles "
                        "WHERE rolname = current_user")
            assert cur.fetchone() == (APP_ROLE, False, False, False, False)
            for refused in ("COPY (SELECT 1) TO PROGRAM 'true'", "SELECT pg_read_file('postgresql.conf')",
                            "CREATE ROLE intruder LOGIN", "CREATE DATABASE other",
                            "ALTER ROLE argus PASSWORD 'taken'"):
                with pytest.raises(errors.InsufficientPrivilege):
                    cur.execute(refused)
            # What the stores need: a schema of its own, tables, indexes and the pgvector type.
            schema = f"{store_settings.topic_prefix.replace('-', '_')}_own"
            cur.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
            cur.execute(sql.SQL("CREATE TABLE {}.t (id int PRIMARY KEY, v vector(3))").format(sql.Identifier(schema)))
            cur.execute(sql.SQL("INSERT INTO {}.t VALUES (1, '[1,2,3]') RETURNING v::text").format(
                sql.Identifier(schema)))
            assert cur.fetchone() == ("[1,2,3]",)
            cur.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
    finally:
        conn.close()


def test_up_hands_the_superusers_old_tables_to_the_jobs_role(stack, store_settings) -> None:  # noqa: ANN001
    postgres = stack.service("postgres")
    name = store_settings.topic_prefix.replace("-", "_")
    schema, table = f"{name}_old", f"{name}_t"
    admin = postgres._connect(DATABASE)  # the superuser, as an earlier version made its tables
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(sql.SQL("CREATE SCHEMA {s}; CREATE TABLE {s}.rows (id serial PRIMARY KEY, note text); "
                                "CREATE TABLE public.{t} (id int PRIMARY KEY)").format(
                s=sql.Identifier(schema), t=sql.Identifier(table)))
        postgres.after_healthy()  # what `up` runs once the server answers
        conn = app_connection(store_settings)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(sql.SQL("INSERT INTO {}.rows (note) VALUES ('kept') RETURNING id").format(
                    sql.Identifier(schema)))
                assert cur.fetchone() == (1,)
                cur.execute(sql.SQL("CREATE INDEX IF NOT EXISTS {i} ON {s}.rows (note)").format(
                    i=sql.Identifier(f"{schema}_note"), s=sql.Identifier(schema)))
                cur.execute(sql.SQL("INSERT INTO public.{} VALUES (7)").format(sql.Identifier(table)))
                cur.execute("SELECT tableowner FROM pg_tables WHERE tablename IN (%s, 'rows') AND schemaname IN "
                            "(%s, 'public') ORDER BY tablename", (table, schema))
                assert cur.fetchall() == [(APP_ROLE,), (APP_ROLE,)]
                cur.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
                assert cur.fetchone() == (False,)
        finally:
            conn.close()
    finally:
        with admin.cursor() as cur:
            cur.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE; DROP TABLE IF EXISTS public.{}").format(
                sql.Identifier(schema), sql.Identifier(table)))
        admin.close()
