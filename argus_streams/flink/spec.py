"""Each job's identity, one value per job: name, consumer group, Flink name, uid prefix, source, module.

    JOBS["failures"].uid("kafka-source")   -> "failures-kafka-source"   (savepoints map state by these uids)
    JOBS["failures"].default_group          -> "argus-flink-failures"
    JOBS["failures"].flink_name(group, prefix) -> "argus-failures" (+ the group and prefix when not the defaults)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from argus_streams.home import REPO_ROOT
from argus_streams.settings import DEFAULT_TOPIC_PREFIX


@dataclass(frozen=True)
class JobSpec:
    name: str  # `argus-streams job submit NAME`; the prefix of every operator uid
    module: str  # builds the pipeline (`build_pipeline`) and runs it (`main`)
    source: str  # the `source` its dead letters (and the events it publishes) name
    script: Path | None = None  # what `flink run -py` runs, when not jobs/<pipeline>.py

    @property
    def default_group(self) -> str:
        """The consumer group the job reads with unless `--group-id` says otherwise."""
        return f"argus-flink-{self.name}"

    @property
    def entry_point(self) -> Path:
        """The file `flink run -py` runs: jobs/<pipeline>.py, which calls `main` of `module`."""
        return self.script or REPO_ROOT / "jobs" / f"{self.module.split('.')[1]}.py"

    def uid(self, operator: str) -> str:
        """An operator's stable uid: never change one, or a savepoint cannot give its state back."""
        return f"{self.name}-{operator}"

    def flink_name(self, group_id: str | None = None, topic_prefix: str = DEFAULT_TOPIC_PREFIX) -> str:
        """The job's name in Flink (the web UI, `job list`, the metrics' job_name): `argus-<name>`, with the
        consumer group and the topic prefix when they are not the defaults, so that two instances that read other
        topics or with another group are told apart, and one that reads the same is found."""
        extra = []
        if group_id and group_id != self.default_group:
            extra.append(f"group {group_id}")
        if topic_prefix != DEFAULT_TOPIC_PREFIX:
            extra.append(f"prefix {topic_prefix}")
        return f"argus-{self.name}" + (f" ({', '.join(extra)})" if extra else "")


FAILURES = JobSpec("failures", "argus_streams.failures.job", source="flink.failures")
HEALING = JobSpec("healing", "argus_streams.healing.job", source="flink.healing")
DLQ = JobSpec("dlq", "argus_streams.dlq.job", source="flink.dlq")
# Its dead letters and its codebase.analyzed events have named it so since its first version: kept, so that
# consumers that filter on the source keep working.
KNOWLEDGE_GRAPH = JobSpec("knowledge-graph", "argus_streams.knowledge_graph.job",
                          source="argus-flink-knowledge-graph")

JOBS: dict[str, JobSpec] = {spec.name: spec for spec in (FAILURES, HEALING, DLQ, KNOWLEDGE_GRAPH)}
