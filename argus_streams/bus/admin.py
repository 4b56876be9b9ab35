"""Topic provisioning: make the broker's topics match the catalog, and report what was changed."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from kafka.admin import (
    ACL,
    ACLFilter,
    ACLOperation,
    ACLPermissionType,
    ACLResourcePatternType,
    ConfigResource,
    ConfigResourceType,
    KafkaAdminClient,
    NewPartitions,
    NewTopic,
    ResourcePattern,
    ResourcePatternFilter,
    ResourceType,
    ScramMechanism,
    UserScramCredentialUpsertion,
)
from kafka.errors import SecurityDisabledError

from argus_streams.bus.principals import grants
from argus_streams.contract.topics import TopicSpec, catalog
from argus_streams.errors import ConfigurationError, StoreUnavailable
from argus_streams.settings import Settings

# How long `ensure_topics` waits for the broker to serve the topics it created or grew.
METADATA_WAIT_S = 30.0


@dataclass
class TopicReport:
    """What provisioning found and did for one topic."""

    spec: TopicSpec
    actions: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        if self.problems:
            return "DRIFT"
        return "changed" if self.actions else "ok"


@contextmanager
def admin_client(settings: Settings) -> Iterator[KafkaAdminClient]:
    client = KafkaAdminClient(**settings.kafka_client_config(), client_id="argus-streams-admin",
                              request_timeout_ms=10_000)
    try:
        yield client
    finally:
        client.close()


def ensure_topics(settings: Settings, replication_factor: int = 1, acls: bool = True) -> list[TopicReport]:
    """Create missing topics, add missing partitions, fix retention, grant the principals' ACLs on them (when
    the broker has an authorizer); never delete anything. `settings` must be a super user's (`admin`).

    A topic with more partitions than the catalog cannot be shrunk: it is reported as drift.
    """
    specs = catalog(settings.topic_prefix)
    reports = [TopicReport(spec) for spec in specs]
    with admin_client(settings) as admin:
        existing = {t["name"]: t for t in admin.describe_topics() if t["name"] in {s.name for s in specs}}
        missing = [r for r in reports if r.spec.name not in existing]
        if missing:
            admin.create_topics(
                [NewTopic(r.spec.name, r.spec.partitions, replication_factor, topic_configs=r.spec.configs())
                 for r in missing]
            )
            for report in missing:
                report.actions.append(f"created ({report.spec.partitions} partitions)")
        present = [r for r in reports if r.spec.name in existing]
        for report in present:
            _fix_partitions(admin, report, len(existing[report.spec.name]["partitions"]))
        _fix_configs(admin, present)
        if any(report.actions for report in reports):
            _wait_until_served(admin, specs)
        if acls:
            ensure_acls(admin, settings.topic_prefix)
    return reports


def ensure_acls(admin: KafkaAdminClient, topic_prefix: str) -> int | None:
    """Grant every principal its ACLs on the topics of `topic_prefix` (bus/principals.py). Creating an ACL that
    exists changes nothing. Returns how many were asked for, or None when the broker has no authorizer."""
    wanted = [ACL(principal=g.principal, host="*", operation=ACLOperation[g.operation],
                  permission_type=ACLPermissionType.ALLOW,
                  resource_pattern=ResourcePattern(ResourceType[g.resource], g.name,
                                                   ACLResourcePatternType[g.pattern]))
              for g in grants(topic_prefix)]
    try:
        result = admin.create_acls(wanted)
    except SecurityDisabledError:
        return None
    failed = result["failed"]
    if any(isinstance(error, SecurityDisabledError) or error is SecurityDisabledError for error in failed):
        return None
    if failed:
        raise ConfigurationError(f"the broker refused {len(failed)} ACL(s) for prefix {topic_prefix!r}: {failed[0]}")
    _wait_until_authorized(admin, wanted)
    return len(wanted)


def _key(acl: ACL) -> tuple[str, int, int, str, int]:
    pattern = acl.resource_pattern
    return (acl.principal, int(acl.operation), int(pattern.resource_type), pattern.resource_name,
            int(pattern.pattern_type))


def _wait_until_authorized(admin: KafkaAdminClient, wanted: list[ACL], timeout_s: float = METADATA_WAIT_S) -> None:
    """Return once the broker's authorizer holds every ACL of `wanted`. The controller answers CreateAcls when it
    has committed them, before the broker applies them: a write right after was refused (the test suite's)."""
    everything = ACLFilter(principal=None, host="*", operation=ACLOperation.ANY,
                           permission_type=ACLPermissionType.ANY,
                           resource_pattern=ResourcePatternFilter(ResourceType.ANY, None, ACLResourcePatternType.ANY))
    missing = {_key(acl) for acl in wanted}
    deadline = time.monotonic() + timeout_s
    while True:
        found, _error = admin.describe_acls(everything)
        missing -= {_key(acl) for acl in found}
        if not missing:
            return
        if time.monotonic() >= deadline:
            raise StoreUnavailable(f"the broker does not apply {len(missing)} ACL(s) {timeout_s:.0f} s after they "
                                   "were created")
        time.sleep(0.1)


def ensure_users(admin: KafkaAdminClient, passwords: dict[str, str]) -> None:
    """Create or update the SCRAM-SHA-512 users (name -> password); the caller must be a super user."""
    if not passwords:
        return
    errors = admin.alter_user_scram_credentials(
        [UserScramCredentialUpsertion(name, ScramMechanism.SCRAM_SHA_512, password)
         for name, password in passwords.items()])
    refused = {name: error for name, error in errors.items() if error}
    if refused:
        raise ConfigurationError(f"the broker refused SCRAM users: {refused}")


def _wait_until_served(admin: KafkaAdminClient, specs: list[TopicSpec], timeout_s: float = METADATA_WAIT_S) -> None:
    """Return once the broker's metadata shows every topic with its partitions, each with a leader. The
    controller answers CreateTopics when it has committed them, before the broker serves them: a `topics list`
    right after `topics ensure` once saw a topic missing (the CI's test stack)."""
    wanted = {spec.name: spec.partitions for spec in specs}
    deadline = time.monotonic() + timeout_s
    while True:
        served = {t["name"]: t["partitions"] for t in admin.describe_topics() if t["name"] in wanted}
        lagging = sorted(name for name, count in wanted.items()
                         if len(served.get(name, [])) < count
                         or any(partition.get("leader_id", -1) < 0 for partition in served.get(name, [])))
        if not lagging:
            return
        if time.monotonic() >= deadline:
            raise StoreUnavailable(f"the broker does not serve {', '.join(lagging)} {timeout_s:.0f} s after "
                                     "they were created or grown")
        time.sleep(0.1)


def _fix_partitions(admin: KafkaAdminClient, report: TopicReport, actual: int) -> None:
    wanted = report.spec.partitions
    if actual < wanted:
        admin.create_partitions({report.spec.name: NewPartitions(total_count=wanted)})
        report.actions.append(f"partitions {actual} -> {wanted}")
    elif actual > wanted:
        report.problems.append(f"has {actual} partitions, catalog says {wanted} (cannot shrink a topic)")


def _fix_configs(admin: KafkaAdminClient, reports: list[TopicReport]) -> None:
    if not reports:
        return
    current = topic_configs(admin, [r.spec.name for r in reports])
    for report in reports:
        drift = {k: v for k, v in report.spec.configs().items() if current.get(report.spec.name, {}).get(k) != v}
        if drift:
            admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, report.spec.name, configs=drift)],
                                raise_on_unknown=False)
            report.actions.extend(f"{key} -> {value}" for key, value in drift.items())


def topic_configs(admin: KafkaAdminClient, names: list[str]) -> dict[str, dict[str, str]]:
    """Effective value of each config of the given topics."""
    resources = [ConfigResource(ConfigResourceType.TOPIC, name) for name in names]
    result = admin.describe_configs(resources, config_filter="all")
    by_topic: dict[str, dict[str, str]] = {}
    for topics in result.values():
        for name, entries in topics.items():
            by_topic[name] = {key: _config_value(entry) for key, entry in entries.items()}
    return by_topic


def _config_value(entry: object) -> str:
    if isinstance(entry, dict):
        return str(entry.get("value"))
    return str(entry)


def describe(settings: Settings) -> list[dict[str, object]]:
    """The catalog's topics as the broker sees them (partitions and retention), for `topics list`."""
    specs = catalog(settings.topic_prefix)
    with admin_client(settings) as admin:
        meta = {t["name"]: t for t in admin.describe_topics() if t["name"] in {s.name for s in specs}}
        configs = topic_configs(admin, list(meta))
    return [
        {
            "topic": spec.name,
            "partitions": len(meta[spec.name]["partitions"]) if spec.name in meta else None,
            "retention_ms": int(configs[spec.name]["retention.ms"]) if spec.name in meta else None,
            "expected_partitions": spec.partitions,
            "expected_retention_ms": spec.retention_ms,
        }
        for spec in specs
    ]


def delete_prefixed_topics(settings: Settings) -> list[str]:
    """Delete the topics under `settings.topic_prefix` (benchmarks clean up their own namespace with it)."""
    with admin_client(settings) as admin:
        doomed = [name for name in admin.list_topics() if name.startswith(settings.topic_prefix + ".")]
        if doomed:
            admin.delete_topics(doomed)
    return doomed
