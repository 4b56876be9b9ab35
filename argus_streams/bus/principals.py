"""Who may do what on the bus: a Kafka principal per service, and the ACLs that grant each exactly its topics.

Each service logs in as its own SCRAM user, and the broker's authorizer (Kafka's StandardAuthorizer; Redpanda's
ACLs in production) refuses it everything these rules do not grant:

    argus-gateway              writes what Argus's services publish: codebase.ingested, test.created,
                               test.executed, test.failed, healing.requested. Never healing.completed or the DLQ.
    argus-job-failures         reads test.failed, test.executed; writes the DLQ
    argus-job-healing          reads test.failed, test.executed, healing.requested, healing.completed;
                               writes healing.requested, healing.completed (the only writer), the DLQ
    argus-job-knowledge-graph  reads codebase.ingested, test.created, test.failed; writes codebase.analyzed, the DLQ
    argus-job-dlq              reads the DLQ; writes the DLQ and retries to the topics producers write
    argus-review               `dlq replay`: writes the topics producers write
    argus-analytics            Flink SQL (`sql run`): reads every topic
    argus-monitor              `lag` and its exporter: describes every topic and consumer group
    admin                      a super user: creates topics, ACLs and users (`up`, `topics ensure`)

A job's consumer groups and transactional ids start with its default group (`argus-flink-<job>`); under a topic
prefix other than the default, they may also start with `<prefix>-` (that prefix's namespace). ACLs name topics
literally, so `ensure_topics` grants them for each topic prefix it provisions.

In production each service's own REDPANDA_SASL_USERNAME/PASSWORD is its principal. The local stack keeps every
principal's password in its `stack.env` (ARGUS_KAFKA_PRINCIPALS), and `Settings.as_principal` picks one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from argus_streams.contract.events import DEFAULT_TOPIC_PREFIX, PRODUCED, EventType, topic_for

ADMIN = "admin"
EVERY_TOPIC = tuple(EventType)


@dataclass(frozen=True)
class Principal:
    name: str  # the SCRAM user
    used_by: str
    reads: tuple[EventType, ...] = ()
    writes: tuple[EventType, ...] = ()
    job: str | None = None  # consumer groups and transactional ids: those of this job (argus-flink-<job>...)
    describes_all: bool = False  # DESCRIBE on every topic and group (monitoring)

    @property
    def user(self) -> str:
        return f"User:{self.name}"

    def group_prefixes(self, topic_prefix: str) -> tuple[str, ...]:
        if self.job is None:
            return ()
        own = f"argus-flink-{self.job}"
        return (own,) if topic_prefix == DEFAULT_TOPIC_PREFIX else (own, f"{topic_prefix}-")


GATEWAY = Principal("argus-gateway", "the producer gateway (API, worker, dashboard; `publish`)",
                    writes=PRODUCED)
FAILURES_JOB = Principal("argus-job-failures", "the failure job", job="failures",
                         reads=(EventType.TEST_FAILED, EventType.TEST_EXECUTED), writes=(EventType.DLQ,))
HEALING_JOB = Principal("argus-job-healing", "the healing job", job="healing",
                        reads=(EventType.TEST_FAILED, EventType.TEST_EXECUTED, EventType.HEALING_REQUESTED,
                               EventType.HEALING_COMPLETED),
                        writes=(EventType.HEALING_REQUESTED, EventType.HEALING_COMPLETED, EventType.DLQ))
KNOWLEDGE_GRAPH_JOB = Principal("argus-job-knowledge-graph", "the knowledge-graph job", job="knowledge-graph",
                                reads=(EventType.CODEBASE_INGESTED, EventType.TEST_CREATED, EventType.TEST_FAILED),
                                writes=(EventType.CODEBASE_ANALYZED, EventType.DLQ))
DLQ_JOB = Principal("argus-job-dlq", "the DLQ job (retries)", job="dlq", reads=(EventType.DLQ,),
                    writes=(*PRODUCED, EventType.DLQ))
REVIEW = Principal("argus-review", "the review CLI (`dlq replay`)", writes=PRODUCED)
ANALYTICS = Principal("argus-analytics", "Flink SQL analytics (`sql run`)", reads=EVERY_TOPIC)
MONITOR = Principal("argus-monitor", "consumer lag (`lag`, `lag --serve`)", describes_all=True)

PRINCIPALS: tuple[Principal, ...] = (GATEWAY, FAILURES_JOB, HEALING_JOB, KNOWLEDGE_GRAPH_JOB, DLQ_JOB, REVIEW,
                                     ANALYTICS, MONITOR)
BY_NAME = {p.name: p for p in PRINCIPALS}


def job_principal(job: str) -> Principal:
    return next(p for p in PRINCIPALS if p.job == job)


@dataclass(frozen=True)
class Grant:
    """One ACL binding: ALLOW `principal` `operation` on a resource (from any host)."""

    principal: str
    operation: str  # READ, WRITE, DESCRIBE
    resource: str  # TOPIC, GROUP, TRANSACTIONAL_ID
    name: str
    pattern: str = "LITERAL"  # or PREFIXED


def grants(topic_prefix: str = DEFAULT_TOPIC_PREFIX, principals: Iterable[Principal] = PRINCIPALS) -> list[Grant]:
    """Every ACL the principals need on the topics of `topic_prefix` (READ and WRITE imply DESCRIBE)."""
    out: list[Grant] = []
    for p in principals:
        out += [Grant(p.user, "READ", "TOPIC", topic_for(t, topic_prefix)) for t in p.reads]
        out += [Grant(p.user, "WRITE", "TOPIC", topic_for(t, topic_prefix)) for t in p.writes]
        for prefix in p.group_prefixes(topic_prefix):
            out.append(Grant(p.user, "READ", "GROUP", prefix, "PREFIXED"))
            out.append(Grant(p.user, "WRITE", "TRANSACTIONAL_ID", prefix, "PREFIXED"))
        if p.describes_all:
            out += [Grant(p.user, "DESCRIBE", "TOPIC", "*"), Grant(p.user, "DESCRIBE", "GROUP", "*")]
    return out


def table() -> str:
    """The principals and what they may do, as a Markdown table (the README's): topics by event type, under the
    default prefix (`argus.<type>`)."""
    def names(types: tuple[EventType, ...]) -> str:
        if types == EVERY_TOPIC:
            return "every topic"
        return ", ".join(f"`{t.value}`" for t in types) or "-"

    rows = ["| principal | used by | reads | writes | groups, transactional ids |", "|---|---|---|---|---|"]
    for p in PRINCIPALS:
        groups = ", ".join(f"`{g}*`" for g in p.group_prefixes(DEFAULT_TOPIC_PREFIX)) or (
            "describes every group" if p.describes_all else "-")
        reads = "describes every topic" if p.describes_all else names(p.reads)
        rows.append(f"| `{p.name}` | {p.used_by} | {reads} | {names(p.writes)} | {groups} |")
    rows.append(f"| `{ADMIN}` | `up`, `topics ensure` (topics, ACLs, users), the demo | all | all | all (super user) |")
    return "\n".join(rows)


def rpk_acl_commands(topic_prefix: str = DEFAULT_TOPIC_PREFIX) -> list[str]:
    """The grants as Redpanda `rpk acl create` commands (docker-compose.yml's redpanda-init runs them)."""
    flags = {"TOPIC": "--topic", "GROUP": "--group", "TRANSACTIONAL_ID": "--transactional-id"}
    commands = []
    for g in grants(topic_prefix):
        pattern = " --resource-pattern-type prefixed" if g.pattern == "PREFIXED" else ""
        name = "'*'" if g.name == "*" else g.name
        commands.append(f"rpk acl create --allow-principal {g.principal} --operation {g.operation.lower()} "
                        f"{flags[g.resource]} {name}{pattern}")
    return commands
