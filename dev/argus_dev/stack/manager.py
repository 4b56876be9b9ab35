"""The local stack as a whole: up (idempotent, waits for health), status, down (only what it started)."""

from __future__ import annotations

import secrets
import string
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from argus_dev.stack.base import Service, StackLayout, raise_open_files_limit
from argus_dev.stack.falkordb import FalkorDBService
from argus_dev.stack.flink import FlinkService
from argus_dev.stack.kafka import KafkaService
from argus_dev.stack.neo4j import Neo4jService
from argus_dev.stack.postgres import APP_ROLE, DATABASE, PostgresService
from argus_streams.bus.admin import ensure_topics
from argus_streams.bus.principals import ADMIN, GATEWAY, PRINCIPALS
from argus_streams.errors import ServiceStartError
from argus_streams.settings import Settings, format_principals, parse_principals, read_env_file, write_env_file

SERVICE_CLASSES: tuple[type[Service], ...] = (
    FalkorDBService, PostgresService, KafkaService, Neo4jService, FlinkService,
)
GENERATED_SECRETS = ("KAFKA_ADMIN_PASSWORD", "KAFKA_CONTROLLER_PASSWORD", "REDPANDA_SASL_PASSWORD", "NEO4J_PASSWORD",
                     "POSTGRES_PASSWORD", "POSTGRES_APP_PASSWORD", "FALKORDB_PASSWORD")
# The Kafka user clients get by default: the producer gateway's (bus/principals.py). Stacks made before the
# principals had one user for everything, `argus-service`; its password becomes the gateway's.
DEFAULT_KAFKA_USER = GATEWAY.name
OLD_SERVICE_USER = "argus-service"
PASSWORD_ALPHABET = string.ascii_letters + string.digits
PASSWORD_LENGTH = 24


def new_password(length: int = PASSWORD_LENGTH) -> str:
    """Letters and digits only: a token_urlsafe password starting with `-` was read as an option by
    `neo4j-admin dbms set-initial-password` (and `_`/`-` need quoting in URLs and shells elsewhere)."""
    return "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(length))


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    running: bool
    healthy: bool
    endpoint: str
    log: str
    # healthy, running (not answering yet), starting (this stack's own processes hold its ports: a daemon
    # being restarted), blocked (another process holds a port; `detail` names it), stopped
    state: str = "stopped"
    detail: str = ""


class Stack:
    """Every service of one local stack, sharing one state folder and one set of credentials."""

    def __init__(self, layout: StackLayout | None = None, only: tuple[str, ...] | None = None):
        self.layout = layout or StackLayout()
        self.secrets = self._load_or_create_secrets()
        self.services = [cls(self.layout, self.secrets) for cls in SERVICE_CLASSES]
        if only:
            self.services = [s for s in self.services if s.name in only]

    def service(self, name: str) -> Service:
        return next(s for s in self.services if s.name == name)

    # Credentials and client settings --------------------------------------------------------------
    def _load_or_create_secrets(self) -> dict[str, str]:
        path = self.layout.secrets_file
        values = read_env_file(path) if path.is_file() else {}
        principals = parse_principals(values.get("ARGUS_KAFKA_PRINCIPALS", ""))
        if all(values.get(name) for name in GENERATED_SECRETS) and all(p.name in principals for p in PRINCIPALS):
            return values
        for name in GENERATED_SECRETS:
            if not values.get(name):
                values[name] = new_password()
        values.setdefault("KAFKA_ADMIN_USER", ADMIN)
        if values.get("REDPANDA_SASL_USERNAME", OLD_SERVICE_USER) == OLD_SERVICE_USER:
            values["REDPANDA_SASL_USERNAME"] = DEFAULT_KAFKA_USER
        values.setdefault("NEO4J_USER", "neo4j")
        # Every principal's password (the gateway's is REDPANDA_SASL_PASSWORD, the admin's KAFKA_ADMIN_PASSWORD).
        principals[GATEWAY.name] = values["REDPANDA_SASL_PASSWORD"]
        principals[values["KAFKA_ADMIN_USER"]] = values["KAFKA_ADMIN_PASSWORD"]
        for principal in PRINCIPALS:
            principals.setdefault(principal.name, new_password())
        values["ARGUS_KAFKA_PRINCIPALS"] = format_principals(principals)
        values.update(self.client_env(values))
        write_env_file(path, values)
        return values

    def client_env(self, values: dict[str, str]) -> dict[str, str]:
        """What clients need to reach this stack, in the settings' variable names."""
        host, ports = self.layout.host, self.layout.ports
        falkordb_url = f"redis://:{values['FALKORDB_PASSWORD']}@{host}:{ports.falkordb}"
        return {
            "REDPANDA_BROKERS": f"{host}:{ports.kafka}",
            "REDPANDA_SASL_MECHANISM": "SCRAM-SHA-512",
            "REDPANDA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
            "FALKORDB_URL": falkordb_url,
            "CACHE_URL": falkordb_url,
            "NEO4J_URI": f"bolt://{host}:{ports.neo4j_bolt}",
            # The jobs' role (see stack/postgres.py); the superuser's password stays in this file only.
            "DATABASE_URL": f"postgresql://{APP_ROLE}:{values['POSTGRES_APP_PASSWORD']}@{host}:{ports.postgres}/{DATABASE}",
            "FLINK_REST_URL": f"http://{host}:{ports.flink_rest}",
        }

    def settings(self, principal: str | None = None) -> Settings:
        """The stack's client settings, logged in to Kafka as the gateway, or as `principal` (see principals.py;
        `admin` is a super user)."""
        settings = Settings.for_stack_file(self.layout.secrets_file)
        return settings.as_principal(principal) if principal else settings

    # Life cycle -----------------------------------------------------------------------------------
    def up(self, report: Callable[[str], None] = print) -> dict[str, float]:
        """Start what is not running, wait for every service's health, then provision; idempotent.

        Returns seconds to healthy per service. Raises ServiceStartError naming the service and log.
        """
        self.layout.ensure_dirs()
        raise_open_files_limit()  # before any server starts: they inherit it
        for service in self.services:
            if not service.is_running():
                service.check_ports()
        started = time.monotonic()
        timings: dict[str, float] = {}

        def wait(service: Service) -> None:
            service.start()  # some starts block (storage format, start-cluster.sh): run them side by side
            service.wait_healthy()
            service.after_healthy()
            timings[service.name] = round(time.monotonic() - started, 1)

        with ThreadPoolExecutor(max_workers=len(self.services)) as pool:
            for future in [pool.submit(wait, s) for s in self.services]:
                future.result()
        if any(s.name == "kafka" for s in self.services):
            for topic in ensure_topics(self.settings(ADMIN)):
                detail = "; ".join(topic.actions + topic.problems) or "as in the catalog"
                report(f"topic {topic.spec.name:<26} {topic.status:<8} {detail}")
        for service in self.services:
            took = timings[service.name]
            report(f"{service.name:<9} up ({took:>5.1f}s)  {service.endpoint()}  log: {service.log_path}")
        return timings

    def down(self, report: Callable[[str], None] = print) -> None:
        """Flink first (its jobs stop before the stores they write go away), then the servers side by side:
        each may take its whole grace period before it is killed, and one after the other that added up to
        minutes."""
        flink = [s for s in self.services if s.name == "flink"]
        servers = [s for s in reversed(self.services) if s.name != "flink"]
        stopped = {s.name: s.stop() for s in flink}
        with ThreadPoolExecutor(max_workers=max(len(servers), 1)) as pool:
            stopped |= dict(zip([s.name for s in servers], pool.map(lambda s: s.stop(), servers), strict=True))
        for service in reversed(self.services):
            report(f"{service.name:<9} {'stopped' if stopped[service.name] else 'was not running'}")

    def status(self) -> list[ServiceStatus]:
        rows = []
        for s in self.services:
            running = s.is_running()
            healthy = running and s.healthy()
            state, detail = ("healthy" if healthy else "running"), ""
            if not running:
                try:
                    state = "starting" if s.check_ports() else "stopped"
                except ServiceStartError as exc:
                    state, detail = "blocked", str(exc)
            rows.append(ServiceStatus(name=s.name, running=running, healthy=healthy, endpoint=s.endpoint(),
                                      log=str(s.log_path), state=state, detail=detail))
        return rows
