"""docker-compose.yml cannot run here (no Docker engine): check it stays consistent with the code instead."""

from __future__ import annotations

import re

import pytest
import yaml
from argus_dev.stack.base import REPO_ROOT

from argus_streams.bus.principals import rpk_acl_commands
from argus_streams.contract.topics import catalog
from argus_streams.settings import Settings

COMPOSE = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
TOPIC_CREATE = re.compile(r"rpk topic create (?P<name>\S+) -p (?P<partitions>\d+) -c retention.ms=(?P<retention>\d+)")


def test_topics_are_created_exactly_as_the_catalog() -> None:
    script = COMPOSE["services"]["redpanda-init"]["command"][0]
    created = {
        m["name"]: (int(m["partitions"]), int(m["retention"]))
        for m in TOPIC_CREATE.finditer(script)
    }
    assert created == {spec.name: (spec.partitions, spec.retention_ms) for spec in catalog()}
    dlq = next(spec for spec in catalog() if spec.name == "argus.dlq")
    assert f"max.message.bytes={dlq.configs()['max.message.bytes']}" in script


def test_service_users_authenticate_with_scram_sha_512() -> None:
    script = COMPOSE["services"]["redpanda-init"]["command"][0]
    assert "rpk acl user create argus-gateway" in script and "--mechanism SCRAM-SHA-512" in script
    assert "redpanda.enable_sasl=true" in " ".join(COMPOSE["services"]["redpanda"]["command"])


def test_each_principal_gets_exactly_the_catalogs_acls() -> None:
    script = COMPOSE["services"]["redpanda-init"]["command"][0]
    created = [line.strip().removesuffix(" $$AUTH") for line in script.splitlines() if "rpk acl create" in line]
    assert created == rpk_acl_commands()
    assert "--operation all" not in script


def test_environment_names_are_settings_variables() -> None:
    env = COMPOSE["x-argus-env"]
    known = {info.alias for info in Settings.model_fields.values()}
    assert set(env) <= known, set(env) - known
    assert {"REDPANDA_BROKERS", "REDPANDA_SASL_PASSWORD", "NEO4J_PASSWORD", "FALKORDB_URL", "DATABASE_URL"} <= set(env)
    assert env["REDPANDA_SASL_MECHANISM"] == Settings().sasl_mechanism


@pytest.mark.parametrize("name", sorted(COMPOSE["services"]))
def test_every_image_is_pinned(name: str) -> None:
    image = COMPOSE["services"][name]["image"]
    tag = image.rsplit(":", 1)[-1] if ":" in image.split("/")[-1] else ""
    assert tag and tag != "latest", image


@pytest.mark.parametrize("name", ["jobmanager", "taskmanager"])
def test_flink_conf_is_mounted_into_every_flink_container(name: str) -> None:
    service = COMPOSE["services"][name]
    assert "./flink-conf:/opt/flink/conf-argus:ro" in service["volumes"]
    assert service["environment"]["FLINK_CONF_DIR"] == "/opt/flink/conf-argus"


def test_no_secret_is_written_in_the_file() -> None:
    text = (REPO_ROOT / "docker-compose.yml").read_text()
    for variable in ("REDPANDA_SASL_PASSWORD", "NEO4J_PASSWORD", "POSTGRES_PASSWORD", "REDPANDA_ADMIN_PASSWORD",
                     "ARGUS_KAFKA_PRINCIPALS", "FALKORDB_PASSWORD", "CACHE_PASSWORD"):
        assert re.search(rf"\$\{{{variable}:\?", text), variable
