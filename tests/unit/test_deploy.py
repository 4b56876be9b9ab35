"""deploy/ cannot be applied here (no Kubernetes, no Prometheus server): check it against the code instead.

The Prometheus rules are checked and unit-tested with promtool (installed by .ci/prepare-tools; a missing
promtool fails the test). The Kubernetes manifests are checked structurally with pyyaml: the fields every
object needs, and consistency with the settings, the topic catalog, the jobs, the Flink image and
flink-conf/config.yaml. They are not validated against the API server's or the CRDs' OpenAPI schemas.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from argus_dev.stack.base import REPO_ROOT
from pydantic import SecretStr

from argus_streams.bus.principals import MONITOR, job_principal
from argus_streams.contract.topics import catalog
from argus_streams.flink.cluster import JOBS
from argus_streams.settings import Settings

K8S = REPO_ROOT / "deploy" / "k8s"
PROMETHEUS = REPO_ROOT / "deploy" / "prometheus"
NAMESPACE = "argus-data"
PLACEHOLDER = "CHANGE_ME"
# The seed's cognee-worker ConfigMap names for values Settings reads as REDPANDA_*.
SEED_ALIASES = {
    "KAFKA_BOOTSTRAP_SERVERS": "REDPANDA_BROKERS",
    "KAFKA_SECURITY_PROTOCOL": "REDPANDA_SECURITY_PROTOCOL",
    "KAFKA_SASL_MECHANISM": "REDPANDA_SASL_MECHANISM",
}
SEED_CONFIG = {
    "KAFKA_BOOTSTRAP_SERVERS": "redpanda-0.redpanda.argus-data.svc.cluster.local:9092",
    "KAFKA_CONSUMER_GROUP": "argus-cognee-workers",
    "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
    "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
    "KAFKA_AUTO_OFFSET_RESET": "earliest",
    "KAFKA_MAX_POLL_RECORDS": "10",
}
SEED_ALERTS = {
    "KafkaConsumerLagHigh": {
        "alert": "KafkaConsumerLagHigh",
        "expr": "kafka_consumer_group_lag > 100",
        "for": "5m",
        "labels": {"severity": "warning"},
        "annotations": {
            "summary": "Kafka consumer lag is high",
            "description": "Consumer group {{ $labels.group }} has lag {{ $value }}",
        },
    },
    "DLQMessagesAccumulating": {
        "alert": "DLQMessagesAccumulating",
        "expr": 'kafka_topic_partition_current_offset{topic="argus.dlq"} > 10',
        "for": "10m",
        "labels": {"severity": "critical"},
        "annotations": {
            "summary": "DLQ has unprocessed messages",
            "description": "Dead letter queue has {{ $value }} messages",
        },
    },
}
# flink-conf/config.yaml keys whose local values (loopback, /tmp, the venv, one 8-slot TaskManager for
# every job and a benchmark) do not apply to a per-job Kubernetes cluster.
LOCAL_ONLY_FLINK_KEYS = {
    "python.executable", "python.client.executable", "execution.checkpointing.dir",
    "execution.checkpointing.savepoint-dir", "taskmanager.numberOfTaskSlots",
    "taskmanager.memory.process.size", "taskmanager.memory.task.off-heap.size",
    # One reporter port per pod on every interface there; a port range on loopback locally.
    "metrics.reporter.prom.host", "metrics.reporter.prom.port",
}
ESSENTIAL_FLINK_KEYS = {
    "execution.checkpointing.interval", "execution.checkpointing.mode",
    "execution.checkpointing.externalized-checkpoint-retention", "execution.checkpointing.num-retained",
    "execution.checkpointing.dir", "execution.checkpointing.savepoint-dir", "restart-strategy.type",
    "metrics.reporter.prom.factory.class",
    "python.fn-execution.bundle.size", "python.fn-execution.memory.managed", "python.executable",
}


def load_documents() -> list[tuple[Path, dict[str, Any]]]:
    return [
        (path, doc)
        for path in sorted(K8S.glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if doc is not None
    ]


DOCUMENTS = load_documents()
COMPOSE = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
DOCKERFILE = (REPO_ROOT / "docker" / "flink" / "Dockerfile").read_text()
FLINK_CONF = yaml.safe_load((REPO_ROOT / "flink-conf" / "config.yaml").read_text())
SETTINGS_VARIABLES = {info.alias for info in Settings.model_fields.values()}
SECRET_VARIABLES = {info.alias for info in Settings.model_fields.values() if info.annotation is SecretStr}


def of_kind(kind: str) -> list[dict[str, Any]]:
    return [doc for _, doc in DOCUMENTS if doc["kind"] == kind]


def only(kind: str) -> dict[str, Any]:
    (doc,) = of_kind(kind)
    return doc


def named(kind: str, name: str) -> dict[str, Any]:
    matches = [doc for doc in of_kind(kind) if doc["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind}/{name}: {len(matches)} in deploy/k8s"
    return matches[0]


def alert_rules() -> dict[str, dict[str, Any]]:
    groups = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())["groups"]
    return {rule["alert"]: rule for group in groups for rule in group["rules"]}


# --- Prometheus ------------------------------------------------------------------------------------------


def test_promtool_checks_and_unit_tests_the_alert_rules() -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool not found: run .ci/prepare-tools (Debian package `prometheus`)"
    for args in (["check", "rules", "alerts.yml"], ["test", "rules", "alerts.test.yml"]):
        done = subprocess.run([promtool, *args], cwd=PROMETHEUS, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"promtool {' '.join(args)}:\n{done.stdout}{done.stderr}"


def test_the_seed_alerts_are_kept_verbatim() -> None:
    rules = alert_rules()
    for name, rule in SEED_ALERTS.items():
        assert rules[name] == rule


def test_every_alert_has_a_severity_and_a_summary() -> None:
    rules = alert_rules()
    assert {"FlinkJobDown", "FlinkCheckpointsFailing", "HealingFailureRateHigh"} <= set(rules)
    for name, rule in rules.items():
        assert rule["labels"]["severity"] in {"warning", "critical"}, name
        assert rule["annotations"]["summary"], name


def test_every_alert_is_unit_tested() -> None:
    suite = yaml.safe_load((PROMETHEUS / "alerts.test.yml").read_text())
    cases = [case for test in suite["tests"] for case in test["alert_rule_test"]]
    firing = {case["alertname"] for case in cases if case["exp_alerts"]}
    silent = {case["alertname"] for case in cases if not case["exp_alerts"]}
    assert firing == silent == set(alert_rules())


# --- Kubernetes: every object --------------------------------------------------------------------------------


def test_manifests_are_found() -> None:
    kinds = {doc["kind"] for _, doc in DOCUMENTS}
    assert {"ConfigMap", "Secret", "FlinkDeployment", "ScaledObject", "TriggerAuthentication"} <= kinds


@pytest.mark.parametrize(("path", "doc"), DOCUMENTS, ids=[f"{p.name}:{d.get('kind')}" for p, d in DOCUMENTS])
def test_every_object_is_named_in_the_argus_data_namespace(path: Path, doc: dict[str, Any]) -> None:
    assert re.fullmatch(r"[a-z0-9.]+(/v\w+)?", doc["apiVersion"]), doc.get("apiVersion")
    assert doc["kind"] and doc["metadata"]["name"]
    assert doc["metadata"]["namespace"] == NAMESPACE
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", doc["metadata"]["name"])


def test_object_names_are_unique_per_kind() -> None:
    keys = [(doc["kind"], doc["metadata"]["name"]) for _, doc in DOCUMENTS]
    assert len(keys) == len(set(keys))


# --- ConfigMap and Secret --------------------------------------------------------------------------------------


def test_configmap_keys_are_settings_variables_or_seed_names() -> None:
    data = only("ConfigMap")["data"]
    assert set(data) <= SETTINGS_VARIABLES | set(SEED_ALIASES), set(data) - SETTINGS_VARIABLES - set(SEED_ALIASES)
    assert all(isinstance(value, str) for value in data.values()), "ConfigMap values must be strings"
    assert {key: data.get(key) for key in SEED_CONFIG} == SEED_CONFIG
    for seed_name, variable in SEED_ALIASES.items():
        assert data[seed_name] == data[variable], seed_name


def test_configmap_values_are_valid_settings() -> None:
    data = only("ConfigMap")["data"]
    settings = Settings(**{key: value for key, value in data.items() if key in SETTINGS_VARIABLES})
    assert settings.security_protocol == "SASL_PLAINTEXT" and settings.sasl_mechanism == "SCRAM-SHA-512"
    assert settings.max_poll_records == 10


def test_no_secret_setting_is_in_the_configmap() -> None:
    assert not set(only("ConfigMap")["data"]) & SECRET_VARIABLES


SHARED_SECRET = "argus-streams-credentials"


def kafka_secret_name(principal: str) -> str:
    return f"argus-kafka-{principal.removeprefix('argus-')}"


def test_secret_is_a_template_of_placeholders() -> None:
    secret = named("Secret", SHARED_SECRET)
    assert "data" not in secret, "use stringData with placeholders, never base64 data"
    values = secret["stringData"]
    assert set(values) <= SETTINGS_VARIABLES
    assert "NEO4J_PASSWORD" in values
    assert not {"REDPANDA_SASL_USERNAME", "REDPANDA_SASL_PASSWORD"} & set(values), "each pod has its own principal"
    assert not set(values) & set(only("ConfigMap")["data"]), "a key in both would depend on envFrom order"
    for key, value in values.items():
        if "://" in value:
            assert urlsplit(value).password == PLACEHOLDER, key
        else:
            assert value == PLACEHOLDER, key


def test_secret_file_says_how_to_create_the_real_one() -> None:
    text = (K8S / "secret.example.yaml").read_text()
    assert "kubectl" in text and "kubeseal" in text


# --- FlinkDeployments -------------------------------------------------------------------------------------------


def flink_conf_value(key: str) -> str:
    """A flink-conf/config.yaml value as Flink reads it (YAML booleans are `true`/`false`)."""
    value = FLINK_CONF[key]
    return str(value).lower() if isinstance(value, bool) else str(value)


def flink_version() -> str:
    match = re.search(r"^FROM flink:(\d+)\.(\d+)\.(\d+)", DOCKERFILE, re.MULTILINE)
    assert match, "docker/flink/Dockerfile: FROM flink:X.Y.Z expected"
    return ".".join(match.groups())


def deployed_job_file(deployment: dict[str, Any]) -> Path:
    args = deployment["spec"]["job"]["args"]
    assert args[0] == "-py", args
    image_path = Path(args[1])
    assert image_path.parent == Path("/opt/argus/jobs"), image_path
    return REPO_ROOT / "jobs" / image_path.name


FLINK_DEPLOYMENTS = of_kind("FlinkDeployment")
FLINK_IDS = [doc["metadata"]["name"] for doc in FLINK_DEPLOYMENTS]


def test_every_registered_job_has_a_flink_deployment() -> None:
    assert {deployed_job_file(doc) for doc in FLINK_DEPLOYMENTS} == {spec.entry_point for spec in JOBS.values()}


def test_each_job_keeps_its_state_in_its_own_folders() -> None:
    keys = ("execution.checkpointing.dir", "execution.checkpointing.savepoint-dir", "high-availability.storageDir")
    folders = [doc["spec"]["flinkConfiguration"][key] for doc in FLINK_DEPLOYMENTS for key in keys]
    assert len(folders) == len(set(folders))


def test_the_image_copies_the_jobs_where_the_deployments_run_them() -> None:
    assert re.search(r"^COPY jobs /opt/argus/jobs$", DOCKERFILE, re.MULTILINE)


@pytest.mark.parametrize("deployment", FLINK_DEPLOYMENTS, ids=FLINK_IDS)
def test_flink_deployment_runs_a_job_file_of_the_repository(deployment: dict[str, Any]) -> None:
    assert deployment["apiVersion"] == "flink.apache.org/v1beta1"
    job = deployment["spec"]["job"]
    assert deployed_job_file(deployment).is_file(), job["args"]
    assert job["jarURI"] == f"local:///opt/flink/opt/flink-python-{flink_version()}.jar"
    assert job["entryClass"] == "org.apache.flink.client.python.PythonDriver"
    assert job["upgradeMode"] == "savepoint" and job["state"] == "running"
    assert job["parallelism"] == 2 == int(FLINK_CONF["parallelism.default"])


@pytest.mark.parametrize("deployment", FLINK_DEPLOYMENTS, ids=FLINK_IDS)
def test_flink_deployment_uses_the_compose_image_and_its_flink_version(deployment: dict[str, Any]) -> None:
    spec = deployment["spec"]
    assert spec["image"] == COMPOSE["x-flink"]["image"]
    major, minor, _ = flink_version().split(".")
    assert spec["flinkVersion"] == f"v{major}_{minor}"


@pytest.mark.parametrize("deployment", FLINK_DEPLOYMENTS, ids=FLINK_IDS)
def test_flink_configuration_mirrors_flink_conf(deployment: dict[str, Any]) -> None:
    conf = deployment["spec"]["flinkConfiguration"]
    assert all(isinstance(value, str) for value in conf.values()), "flinkConfiguration values must be strings"
    assert ESSENTIAL_FLINK_KEYS <= set(conf), ESSENTIAL_FLINK_KEYS - set(conf)
    assert conf["execution.checkpointing.interval"] == "10s"
    assert conf["execution.checkpointing.mode"] == "EXACTLY_ONCE"
    assert conf["python.fn-execution.memory.managed"] == "false"
    differing = {
        key: (value, FLINK_CONF[key])
        for key, value in conf.items()
        if key in FLINK_CONF and key not in LOCAL_ONLY_FLINK_KEYS and value != flink_conf_value(key)
    }
    assert not differing


@pytest.mark.parametrize("deployment", FLINK_DEPLOYMENTS, ids=FLINK_IDS)
def test_flink_state_lives_on_a_mounted_claim(deployment: dict[str, Any]) -> None:
    spec = deployment["spec"]
    pod = spec["podTemplate"]["spec"]
    (container,) = [c for c in pod["containers"] if c["name"] == "flink-main-container"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    claims = {v["name"]: v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"]}
    for key in ("execution.checkpointing.dir", "execution.checkpointing.savepoint-dir"):
        path = spec["flinkConfiguration"][key].removeprefix("file://")
        (volume,) = [name for name, mount in mounts.items() if path.startswith(mount.rstrip("/") + "/")]
        claim = named("PersistentVolumeClaim", claims[volume])
        assert "ReadWriteMany" in claim["spec"]["accessModes"]


@pytest.mark.parametrize("deployment", FLINK_DEPLOYMENTS, ids=FLINK_IDS)
def test_flink_pods_get_the_settings_from_the_configmap_and_secret(deployment: dict[str, Any]) -> None:
    (container,) = deployment["spec"]["podTemplate"]["spec"]["containers"]
    sources = container["envFrom"]
    config_maps = {s["configMapRef"]["name"] for s in sources if "configMapRef" in s}
    secrets = {s["secretRef"]["name"] for s in sources if "secretRef" in s}
    assert config_maps == {only("ConfigMap")["metadata"]["name"]}
    job = deployed_job_file(deployment).stem.replace("_", "-")
    own = kafka_secret_name(job_principal(job).name)
    assert secrets == {SHARED_SECRET, own}
    assert [s["secretRef"]["name"] for s in sources if "secretRef" in s][-1] == own  # the later source wins
    kafka = named("Secret", own)["stringData"]
    assert (kafka["REDPANDA_SASL_USERNAME"], kafka["REDPANDA_SASL_PASSWORD"]) == (job_principal(job).name, PLACEHOLDER)


# --- KEDA ------------------------------------------------------------------------------------------------------


def kafka_trigger() -> dict[str, Any]:
    (trigger,) = only("ScaledObject")["spec"]["triggers"]
    assert trigger["type"] == "kafka"
    return trigger


def test_scaled_object_has_the_seed_lag_thresholds() -> None:
    metadata = kafka_trigger()["metadata"]
    assert metadata["topic"] == "argus.codebase.ingested"
    assert (metadata["lagThreshold"], metadata["activationLagThreshold"]) == ("10", "5")


def test_scaled_object_never_scales_past_the_partitions() -> None:
    scaled = only("ScaledObject")["spec"]
    partitions = {spec.name: spec.partitions for spec in catalog()}[kafka_trigger()["metadata"]["topic"]]
    assert 1 <= scaled["minReplicaCount"] <= scaled["maxReplicaCount"] <= partitions


def test_scaled_object_targets_the_cognee_worker_deployment() -> None:
    target = only("ScaledObject")["spec"]["scaleTargetRef"]
    assert (target.get("apiVersion", "apps/v1"), target.get("kind", "Deployment"), target["name"]) == (
        "apps/v1", "Deployment", "cognee-worker",
    )


def test_scaled_object_reads_the_brokers_and_group_of_the_configmap() -> None:
    metadata = kafka_trigger()["metadata"]
    config = only("ConfigMap")["data"]
    assert metadata["bootstrapServers"] == config["REDPANDA_BROKERS"]
    assert metadata["consumerGroup"] == config["KAFKA_CONSUMER_GROUP"]
    assert metadata["sasl"] == config["REDPANDA_SASL_MECHANISM"].lower().replace("-sha-", "_sha")  # scram_sha512


def test_trigger_authentication_takes_the_sasl_credentials_from_the_secret() -> None:
    auth = named("TriggerAuthentication", kafka_trigger()["authenticationRef"]["name"])
    secret = named("Secret", kafka_secret_name(MONITOR.name))
    assert secret["stringData"]["REDPANDA_SASL_USERNAME"] == MONITOR.name
    refs = {ref["parameter"]: ref for ref in auth["spec"]["secretTargetRef"]}
    assert set(refs) == {"username", "password"}
    for ref in refs.values():
        assert ref["name"] == secret["metadata"]["name"] and ref["key"] in secret["stringData"]


def test_keda_file_explains_lag_scaling_with_flink() -> None:
    text = (K8S / "keda-scaledobject.yaml").read_text()
    for phrase in ("checkpoint", "partition", "job.autoscaler"):
        assert phrase in text, phrase
