"""Apache Kafka 4 (KRaft, one combined broker + controller) with SASL_PLAINTEXT + SCRAM-SHA-512 clients and ACLs.

The StandardAuthorizer refuses every principal what bus/principals.py does not grant it; `admin` (the broker's
own inter-broker user) and `controller` (the broker's login to its own controller listener, SASL PLAIN: KRaft
controllers cannot check SCRAM) are super users. Each principal's SCRAM user is created (or its password reset
to the stack's) by the admin once the broker is healthy; `ensure_topics` grants the ACLs.
"""

from __future__ import annotations

import base64
import hashlib
import re
import subprocess
import uuid
from collections.abc import Sequence
from pathlib import Path

from argus_dev.stack.base import (
    REPO_ROOT,
    Service,
    StackLayout,
    java_command,
    port_open,
    private_java_args,
    write_private,
)
from argus_streams.errors import ConfigurationError, ServiceStartError
from argus_streams.settings import parse_principals

KAFKA_JARS = REPO_ROOT / "target" / "kafka"
MECHANISM = "SCRAM-SHA-512"
CONTROLLER_USER = "controller"
HEAP = "640m"
HEALTH_TIMEOUT_MS = 2000
# These characters would break the `--add-scram` value ([name=..,password=..]) or the quoted JAAS string.
_UNSAFE = re.compile(r'[\s"\\,=\[\]]')

LOG4J2_PROPERTIES = """\
# Written by argus_dev.stack.kafka: everything to stdout, which the stack sends to logs/kafka.log.
status = warn
appender.stdout.type = Console
appender.stdout.name = STDOUT
appender.stdout.layout.type = PatternLayout
appender.stdout.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.state.name = state.change.logger
logger.state.level = WARN
logger.request.name = kafka.request.logger
logger.request.level = WARN
"""


class KafkaService(Service):
    """The local event bus: clients and the broker itself authenticate with SCRAM-SHA-512.

    SCRAM users are written into the metadata log when the storage is formatted, so the broker
    accepts the admin and service users from its first start, without a separate set-up step.
    """

    name = "kafka"

    def __init__(self, layout: StackLayout, secrets: dict[str, str]):
        super().__init__(layout, secrets)
        self.admin_user = self._secret("KAFKA_ADMIN_USER", default="admin")
        self.admin_password = self._secret("KAFKA_ADMIN_PASSWORD")
        self.controller_password = self._secret("KAFKA_CONTROLLER_PASSWORD")
        self.principals = {name: password for name, password in
                           parse_principals(secrets.get("ARGUS_KAFKA_PRINCIPALS", "")).items()
                           if name != self.admin_user}
        for name, password in self.principals.items():
            self._check(f"the password of principal {name}", password)

    def _secret(self, key: str, default: str = "") -> str:
        value = self.secrets.get(key) or default
        if not value:
            raise ConfigurationError(f"kafka: secret {key} is missing")
        return self._check(key, value)

    @staticmethod
    def _check(what: str, value: str) -> str:
        if _UNSAFE.search(value):
            raise ConfigurationError(f"kafka: {what} must not contain spaces, quotes, \\ , = [ or ]")
        return value

    @property
    def bootstrap(self) -> str:
        return f"{self.layout.host}:{self.layout.ports.kafka}"

    @property
    def properties_path(self) -> Path:
        return self.data_dir / "server.properties"

    @property
    def log4j_path(self) -> Path:
        return self.data_dir / "log4j2.properties"

    @property
    def fingerprint_path(self) -> Path:
        return self.data_dir / "credentials.sha256"

    @property
    def log_dirs(self) -> Path:
        return self.data_dir / "logs"

    def ports(self) -> Sequence[int]:
        return (self.layout.ports.kafka, self.layout.ports.kafka_controller)

    def endpoint(self) -> str:
        return f"{self.bootstrap} (SASL_PLAINTEXT, {MECHANISM})"

    def server_properties(self) -> str:
        host, ports = self.layout.host, self.layout.ports
        jaas = (
            "org.apache.kafka.common.security.scram.ScramLoginModule required "
            f'username="{self.admin_user}" password="{self.admin_password}";'
        )
        controller_jaas = (
            "org.apache.kafka.common.security.plain.PlainLoginModule required "
            f'username="{CONTROLLER_USER}" password="{self.controller_password}" '
            f'user_{CONTROLLER_USER}="{self.controller_password}";'
        )
        settings = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.bootstrap.servers": f"{host}:{ports.kafka_controller}",
            "listeners": f"SASL_PLAINTEXT://{host}:{ports.kafka},CONTROLLER://{host}:{ports.kafka_controller}",
            "advertised.listeners": f"SASL_PLAINTEXT://{host}:{ports.kafka}",
            "listener.security.protocol.map": "SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT",
            "controller.listener.names": "CONTROLLER",
            "sasl.mechanism.controller.protocol": "PLAIN",
            "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
            "listener.name.controller.plain.sasl.jaas.config": controller_jaas,
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "super.users": f"User:{self.admin_user};User:{CONTROLLER_USER}",
            "allow.everyone.if.no.acl.found": "false",
            "inter.broker.listener.name": "SASL_PLAINTEXT",
            "sasl.enabled.mechanisms": MECHANISM,
            "sasl.mechanism.inter.broker.protocol": MECHANISM,
            f"listener.name.sasl_plaintext.{MECHANISM.lower()}.sasl.jaas.config": jaas,
            "log.dirs": str(self.log_dirs),
            "auto.create.topics.enable": "false",
            "num.partitions": "1",
            "offsets.topic.replication.factor": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "min.insync.replicas": "1",
            # A single local consumer should not wait 3 s for peers that never come.
            "group.initial.rebalance.delay.ms": "0",
            # One combined node on two shared cores: after a restart with thousands of partitions (the test
            # suite's) its heartbeats to its own controller ran late, the default 9 s session expired and the
            # controller fenced the broker, taking every partition offline. Fencing the only broker helps no one.
            "broker.session.timeout.ms": "60000",
        }
        return "".join(f"{key}={value}\n" for key, value in settings.items())

    def _jvm_args(self) -> list[str]:
        # Log4j's own shutdown hook would stop logging halfway through Kafka's shutdown on SIGTERM.
        return [
            f"-Dlog4j2.configurationFile={self.log4j_path}",
            "-Dlog4j2.shutdownHookEnabled=false",
            f"-Dkafka.logs.dir={self.layout.logs_dir}",
        ]

    def prepare(self) -> None:
        """Write the configs (they hold the admin password: mode 0600) and format storage once."""
        formatted = (self.log_dirs / "meta.properties").exists()
        # The SCRAM users live in the metadata log: new secrets would leave the broker refusing
        # everyone, and the start would only end in a health time-out.
        if formatted and self.fingerprint_path.exists():
            if self.fingerprint_path.read_text() == self._legacy_fingerprint():
                write_private(self.fingerprint_path, self._fingerprint())
            if self.fingerprint_path.read_text() != self._fingerprint():
                raise ServiceStartError(
                    f"kafka: {self.log_dirs} was formatted with other credentials than the current "
                    f"secrets; restore them or delete {self.data_dir} (log: {self.log_path})"
                )
        write_private(self.properties_path, self.server_properties())
        write_private(self.log4j_path, LOG4J2_PROPERTIES)
        if formatted:
            return
        command = java_command(
            [KAFKA_JARS],
            "kafka.tools.StorageTool",
            "format",
            "--config", str(self.properties_path),
            "--cluster-id", _random_cluster_id(),
            "--standalone",
            "--add-scram", f"{MECHANISM}=[name={self.admin_user},password={self.admin_password}]",
            heap="256m",
            jvm_args=self._jvm_args(),
        )  # fmt: skip
        argfile = self.layout.run_dir / "kafka-format.args"  # the SCRAM passwords: never on a command line
        try:
            result = subprocess.run(private_java_args(command, argfile), capture_output=True, text=True,
                                    cwd=self.data_dir, check=False)
        finally:
            argfile.unlink(missing_ok=True)
        with open(self.log_path, "a") as log:
            log.write(result.stdout + result.stderr)
        if result.returncode != 0:
            raise ServiceStartError(f"kafka: formatting {self.log_dirs} failed (log: {self.log_path})")
        write_private(self.fingerprint_path, self._fingerprint())

    def _fingerprint(self) -> str:
        """A digest of the SCRAM user given to `format` (the admin), to notice changed secrets later."""
        return hashlib.sha256(f"{self.admin_user}:{self.admin_password}".encode()).hexdigest()

    def _legacy_fingerprint(self) -> str:
        """What stacks formatted before the principals wrote: the admin and the one service user, `argus-service`,
        whose password is the gateway's now."""
        gateway = self.secrets.get("REDPANDA_SASL_PASSWORD", "")
        users = f"{self.admin_user}:{self.admin_password}\nargus-service:{gateway}"
        return hashlib.sha256(users.encode()).hexdigest()

    def after_healthy(self) -> None:
        """Create each principal's SCRAM user, or reset its password to the stack's (the admin logs in)."""
        from kafka.admin import KafkaAdminClient

        from argus_streams.bus.admin import ensure_users

        admin = KafkaAdminClient(**self.client_config(), request_timeout_ms=10_000)
        try:
            ensure_users(admin, self.principals)
        finally:
            admin.close()

    def command(self) -> list[str]:
        return java_command(
            [KAFKA_JARS], "kafka.Kafka", str(self.properties_path), heap=HEAP, jvm_args=self._jvm_args()
        )

    def client_config(self, user: str | None = None, password: str | None = None) -> dict[str, object]:
        """kafka-python settings for this broker (the admin unless told otherwise)."""
        return {
            "bootstrap_servers": self.bootstrap,
            "security_protocol": "SASL_PLAINTEXT",
            "sasl_mechanism": MECHANISM,
            "sasl_plain_username": user or self.admin_user,
            "sasl_plain_password": password or self.admin_password,
        }

    def healthy(self) -> bool:
        """The admin can log in and read cluster metadata.

        A KafkaAdminClient whose constructor fails (broker starting, wrong password) keeps its IO
        thread alive in kafka-python 3.0; the client factory below lets us close it anyway, so
        polling this during start-up does not pile up threads.
        """
        from kafka.admin import KafkaAdminClient

        if not port_open(self.layout.host, self.layout.ports.kafka):
            return False  # still starting: no client, so no "connection refused" errors logged at each poll
        default_factory = KafkaAdminClient.DEFAULT_CONFIG["kafka_client"]
        clients: list = []

        def factory(**configs: object) -> object:
            clients.append(default_factory(**configs))
            return clients[-1]

        try:
            admin = KafkaAdminClient(
                **self.client_config(),
                bootstrap_timeout_ms=HEALTH_TIMEOUT_MS,
                request_timeout_ms=HEALTH_TIMEOUT_MS,
                kafka_client=factory,
            )
        except Exception:
            for client in clients:
                client.close()
            return False
        try:
            admin.describe_cluster()
            return True
        except Exception:
            return False
        finally:
            admin.close()


def _random_cluster_id() -> str:
    """A Kafka Uuid string (22 chars of url-safe base64), as `kafka-storage random-uuid` prints."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text
