"""The local stack's Kafka principals: generated once, kept, and a stack made before them upgraded in place."""

from __future__ import annotations

import hashlib
from pathlib import Path

from argus_dev.stack.base import Ports, StackLayout
from argus_dev.stack.kafka import KafkaService
from argus_dev.stack.manager import Stack

from argus_streams.bus.principals import ADMIN, PRINCIPALS
from argus_streams.settings import parse_principals, read_env_file, write_env_file


def layout(tmp_path: Path) -> StackLayout:
    return StackLayout(state_dir=tmp_path, ports=Ports().shifted(42_000))


def test_a_new_stack_has_a_password_per_principal_and_clients_default_to_the_gateway(tmp_path: Path) -> None:
    stack = Stack(layout(tmp_path))
    values = read_env_file(stack.layout.secrets_file)
    principals = parse_principals(values["ARGUS_KAFKA_PRINCIPALS"])
    assert set(principals) == {p.name for p in PRINCIPALS} | {ADMIN}
    assert len(set(principals.values())) == len(principals)  # each its own
    assert (values["REDPANDA_SASL_USERNAME"], values["REDPANDA_SASL_PASSWORD"]) == (
        "argus-gateway", principals["argus-gateway"])
    assert principals[ADMIN] == values["KAFKA_ADMIN_PASSWORD"]
    assert stack.layout.secrets_file.stat().st_mode & 0o777 == 0o600
    assert Stack(layout(tmp_path)).secrets == stack.secrets  # generated once
    job = stack.settings("argus-job-dlq")
    assert (job.sasl_username, job.sasl_password.get_secret_value()) == ("argus-job-dlq", principals["argus-job-dlq"])


def test_a_stack_made_before_the_principals_keeps_its_passwords_and_its_kafka_data(tmp_path: Path) -> None:
    old = {"KAFKA_ADMIN_USER": "admin", "KAFKA_ADMIN_PASSWORD": "OldAdmin0", "REDPANDA_SASL_USERNAME": "argus-service",
           "REDPANDA_SASL_PASSWORD": "OldService0", "NEO4J_PASSWORD": "OldNeo4j0Password", "POSTGRES_PASSWORD": "P0",
           "POSTGRES_APP_PASSWORD": "A0", "FALKORDB_PASSWORD": "F0"}
    place = layout(tmp_path)
    write_env_file(place.secrets_file, old)
    stack = Stack(place)
    values = read_env_file(place.secrets_file)
    assert {k: values[k] for k in old if k != "REDPANDA_SASL_USERNAME"} == {
        k: v for k, v in old.items() if k != "REDPANDA_SASL_USERNAME"}
    assert values["REDPANDA_SASL_USERNAME"] == "argus-gateway"  # the old service user's password is the gateway's
    assert parse_principals(values["ARGUS_KAFKA_PRINCIPALS"])["argus-gateway"] == "OldService0"
    assert values["KAFKA_CONTROLLER_PASSWORD"]

    # Its broker was formatted with admin and argus-service: that fingerprint still lets it start.
    kafka = stack.service("kafka")
    assert isinstance(kafka, KafkaService)
    place.ensure_dirs()
    kafka.log_dirs.mkdir(parents=True)
    (kafka.log_dirs / "meta.properties").write_text("formatted\n")
    legacy = hashlib.sha256(b"admin:OldAdmin0\nargus-service:OldService0").hexdigest()
    kafka.fingerprint_path.write_text(legacy)
    kafka.prepare()  # formatted: writes its config, checks the credentials, formats nothing
    assert kafka.fingerprint_path.read_text() == hashlib.sha256(b"admin:OldAdmin0").hexdigest()
    properties = kafka.properties_path.read_text()
    assert "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer" in properties
    assert "super.users=User:admin;User:controller" in properties


def test_up_raises_the_open_files_limit_its_servers_inherit() -> None:
    """The broker holds a file per partition and the suite makes thousands: from a soft limit of 1024 the stack
    raises it (to the hard limit at most, when the process may not raise that) before any server starts."""
    import resource
    import subprocess
    import sys

    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    script = ("import resource; from argus_dev.stack.base import raise_open_files_limit as r; "
              "print(r(), resource.getrlimit(resource.RLIMIT_NOFILE)[0])")
    done = subprocess.run(["bash", "-c", f"ulimit -Sn 1024; {sys.executable} -c '{script}'"],
                          capture_output=True, text=True, check=True)
    returned, soft = map(int, done.stdout.split())
    expected = 65_536 if hard == resource.RLIM_INFINITY else min(65_536, hard)
    assert returned == soft == max(expected, 1024)
