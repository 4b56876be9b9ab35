"""Neo4j Community 5.26 (the last line on Java 17) from the Maven Central jars, Bolt with authentication."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from argus_dev.stack.base import REPO_ROOT, Service, StackLayout, java_command
from argus_streams.errors import ConfigurationError, ServiceStartError

if TYPE_CHECKING:
    from neo4j import Driver

NEO4J_JARS = REPO_ROOT / "target" / "neo4j"
ENTRY_POINT = "org.neo4j.server.CommunityEntryPoint"
ADMIN_TOOL = "org.neo4j.cli.AdminTool"
INITIAL_USER = "neo4j"  # Community's built-in admin; `set-initial-password` only knows this one
HEAP = "512m"
PAGE_CACHE = "256m"
MIN_PASSWORD_LENGTH = 8  # dbms.security.auth_minimum_password_length
HEALTH_TIMEOUT_S = 2.0
# Bolt magic + four version proposals (5.0-5.8, 4.4): any 4-byte answer means Bolt is serving.
BOLT_HANDSHAKE = bytes.fromhex("6060B017") + bytes.fromhex("00080805 00000404 00000000 00000000")

# What bin/neo4j would add from `server.jvm.additional` in the stock neo4j.conf, minus
# -XX:+AlwaysPreTouch (it touches the whole heap up front: slower start, larger RSS).
JVM_ARGS = (
    "-XX:+UseG1GC",
    "-XX:-OmitStackTraceInFastThrow",
    "-XX:+UnlockExperimentalVMOptions",
    "-XX:+TrustFinalNonStaticFields",
    "-XX:+DisableExplicitGC",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djdk.nio.maxCachedBufferSize=1024",
    "-Dio.netty.tryReflectionSetAccessible=true",
    "-Dlog4j2.disable.jmx=true",
    "-Dfile.encoding=UTF-8",
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
)


class Neo4jService(Service):
    """The graph store: user `neo4j` with the stack's password from the very first start.

    `prepare` runs `neo4j-admin dbms set-initial-password` before the system database exists, so
    the server never accepts the default neo4j/neo4j login, not even briefly.
    """

    name = "neo4j"

    def __init__(self, layout: StackLayout, secrets: dict[str, str]):
        super().__init__(layout, secrets)
        self.password = secrets.get("NEO4J_PASSWORD", "")
        self.user = secrets.get("NEO4J_USER") or INITIAL_USER
        if len(self.password) < MIN_PASSWORD_LENGTH:
            raise ConfigurationError(f"neo4j: NEO4J_PASSWORD needs at least {MIN_PASSWORD_LENGTH} characters")

    @property
    def uri(self) -> str:
        return f"bolt://{self.layout.host}:{self.layout.ports.neo4j_bolt}"

    @property
    def conf_dir(self) -> Path:
        return self.data_dir / "conf"

    @property
    def store_dir(self) -> Path:
        return self.data_dir / "data"

    def ports(self) -> Sequence[int]:
        return (self.layout.ports.neo4j_bolt, self.layout.ports.neo4j_http)

    def endpoint(self) -> str:
        return f"{self.uri} (auth on)"

    def neo4j_conf(self) -> str:
        host, ports = self.layout.host, self.layout.ports
        settings = {
            "server.directories.data": self.store_dir,
            "server.directories.logs": self.layout.logs_dir / self.name,  # neo4j.log, debug.log, ...
            "server.directories.run": self.data_dir / "run",
            "server.directories.plugins": self.data_dir / "plugins",
            "server.directories.import": self.data_dir / "import",
            "server.default_listen_address": host,
            "server.default_advertised_address": host,
            "server.bolt.enabled": "true",
            "server.bolt.listen_address": f"{host}:{ports.neo4j_bolt}",
            "server.bolt.advertised_address": f"{host}:{ports.neo4j_bolt}",
            "server.http.enabled": "true",
            "server.http.listen_address": f"{host}:{ports.neo4j_http}",
            "server.http.advertised_address": f"{host}:{ports.neo4j_http}",
            "server.https.enabled": "false",
            "dbms.routing.enabled": "false",
            # Routing is off (no listener); pinned anyway so no default 7688 shows up in any check.
            "server.routing.listen_address": f"{host}:{ports.neo4j_bolt + 1}",
            "dbms.security.auth_enabled": "true",
            # Only informational here (the heap comes from -Xmx), but keeps neo4j's memory checks quiet.
            "server.memory.heap.initial_size": HEAP,
            "server.memory.heap.max_size": HEAP,
            "server.memory.pagecache.size": PAGE_CACHE,
            "dbms.usage_report.enabled": "false",
            # Bolt's shutdown otherwise idles twice for 5 s (Netty quiet period, worker pool wait).
            "internal.dbms.bolt.netty_server_shutdown_quiet_period": "0",
            "internal.server.bolt.thread_pool_shutdown_wait_time": "1s",
        }
        return "".join(f"{key}={value}\n" for key, value in settings.items())

    def _admin_env(self) -> dict[str, str]:
        return {**self.environment(), "NEO4J_HOME": str(self.data_dir), "NEO4J_CONF": str(self.conf_dir)}

    def prepare(self) -> None:
        """Write neo4j.conf; before the first start only, store the initial password (data/dbms/auth.ini)."""
        self.conf_dir.mkdir(parents=True, exist_ok=True)
        (self.conf_dir / "neo4j.conf").write_text(self.neo4j_conf())
        if (self.store_dir / "databases" / "system").exists():
            return  # the system database already holds the users; auth.ini would be ignored
        # The password goes through a picocli @argument-file (mode 0600), not argv, so `ps` never shows it.
        argfile = self.conf_dir / "initial-password.args"
        argfile.touch(mode=0o600, exist_ok=True)
        argfile.chmod(0o600)
        try:
            argfile.write_text(_picocli_quote(self.password) + "\n")
            command = java_command(
                [NEO4J_JARS], ADMIN_TOOL, "dbms", "set-initial-password", f"@{argfile}", heap="128m"
            )
            result = subprocess.run(
                command, capture_output=True, text=True, cwd=self.data_dir, env=self._admin_env(), check=False
            )
        finally:
            argfile.unlink(missing_ok=True)
        with open(self.log_path, "a") as log:
            log.write(result.stdout + result.stderr)
        if result.returncode != 0:
            raise ServiceStartError(f"neo4j: setting the initial password failed (log: {self.log_path})")
        # It holds the salted password hash; Neo4j writes it world-readable.
        (self.store_dir / "dbms" / "auth.ini").chmod(0o600)

    def command(self) -> list[str]:
        return java_command(
            [NEO4J_JARS],
            ENTRY_POINT,
            f"--home-dir={self.data_dir}",
            f"--config-dir={self.conf_dir}",
            heap=HEAP,
            jvm_args=JVM_ARGS,
        )

    def driver(self, user: str = INITIAL_USER, password: str | None = None, timeout: float = 10.0) -> Driver:
        """A sync `neo4j` driver for this server (the admin user unless told otherwise)."""
        from neo4j import GraphDatabase

        auth = (user, self.password if password is None else password)
        return GraphDatabase.driver(
            self.uri, auth=auth, connection_timeout=timeout, connection_acquisition_timeout=timeout
        )

    def healthy(self) -> bool:
        """The admin user logs in over Bolt and the default database answers `RETURN 1`."""
        # Neo4j binds the port seconds before Bolt answers; probing the handshake first keeps the
        # driver from logging a read time-out on every poll during start-up.
        if not self._bolt_answers():
            return False
        try:
            with self.driver(timeout=HEALTH_TIMEOUT_S) as driver, driver.session() as session:
                return session.run("RETURN 1 AS ok").single(strict=True)["ok"] == 1
        except Exception:
            return False

    def _bolt_answers(self) -> bool:
        address = (self.layout.host, self.layout.ports.neo4j_bolt)
        try:
            with socket.create_connection(address, timeout=1) as sock:
                sock.sendall(BOLT_HANDSHAKE)
                return len(sock.recv(4)) == 4
        except OSError:
            return False

    def after_healthy(self) -> None:
        """Community has one built-in admin (`neo4j`); a different NEO4J_USER is created beside it."""
        if self.user == INITIAL_USER:
            return
        with self.driver() as driver:
            driver.execute_query(
                "CREATE USER $user IF NOT EXISTS SET PLAINTEXT PASSWORD $password CHANGE NOT REQUIRED",
                user=self.user,
                password=self.password,
                database_="system",
            )


def _picocli_quote(value: str) -> str:
    """One argument for a picocli @-file: double-quoted, backslash and quote escaped, and a leading
    `@` doubled (picocli would otherwise read the rest as the name of another @-file)."""
    if value.startswith("@"):
        value = "@" + value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
