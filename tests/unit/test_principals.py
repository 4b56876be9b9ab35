"""The principals' grants (bus/principals.py): what each job's code reads and writes is granted, nothing more, and
the README's table is the catalog's."""

from __future__ import annotations

from pathlib import Path

import pytest

from argus_streams.bus.principals import (
    ADMIN,
    DLQ_JOB,
    GATEWAY,
    HEALING_JOB,
    PRINCIPALS,
    Grant,
    grants,
    job_principal,
    table,
)
from argus_streams.contract.events import PRODUCED, EventType
from argus_streams.dlq.triage import republishable_topics
from argus_streams.flink.spec import JOBS
from argus_streams.healing.job import TOPICS as HEALING_TOPICS
from argus_streams.settings import Settings, format_principals

README = Path(__file__).parents[2] / "README.md"


def test_every_job_has_a_principal_and_the_healing_job_reads_what_its_source_reads() -> None:
    assert {p.job for p in PRINCIPALS if p.job} == set(JOBS)
    assert set(job_principal("healing").reads) == set(HEALING_TOPICS)


def test_no_producer_writes_a_jobs_output_and_only_the_healing_job_writes_healing_completed() -> None:
    assert set(GATEWAY.writes) == set(PRODUCED)
    assert {p.name for p in PRINCIPALS if EventType.HEALING_COMPLETED in p.writes} == {HEALING_JOB.name}
    assert {p.name for p in PRINCIPALS if EventType.CODEBASE_ANALYZED in p.writes} == {"argus-job-knowledge-graph"}
    # A retry goes only where the DLQ job may write, and never to a job's output.
    assert republishable_topics("p") == {f"p.{t.value}" for t in DLQ_JOB.writes if t is not EventType.DLQ}


def test_grants_under_the_default_prefix_and_another() -> None:
    default = grants("argus", [job_principal("failures")])
    assert Grant("User:argus-job-failures", "READ", "TOPIC", "argus.test.failed") in default
    assert Grant("User:argus-job-failures", "WRITE", "TOPIC", "argus.dlq") in default
    assert Grant("User:argus-job-failures", "READ", "GROUP", "argus-flink-failures", "PREFIXED") in default
    assert not any(g.resource == "GROUP" and g.name == "argus-" for g in default)
    other = grants("it-1", [job_principal("failures")])
    assert Grant("User:argus-job-failures", "READ", "GROUP", "it-1-", "PREFIXED") in other
    assert Grant("User:argus-job-failures", "WRITE", "TRANSACTIONAL_ID", "it-1-", "PREFIXED") in other
    assert all(g.name.startswith(("it-1.", "it-1-", "argus-flink-")) for g in other)


def test_as_principal_switches_the_login_and_drops_every_other_password() -> None:
    settings = Settings(REDPANDA_SASL_USERNAME="argus-gateway", REDPANDA_SASL_PASSWORD="g",
                        ARGUS_KAFKA_PRINCIPALS=format_principals({"argus-gateway": "g", "argus-job-dlq": "d",
                                                                  ADMIN: "a"}))
    dlq = settings.as_principal("argus-job-dlq")
    assert (dlq.sasl_username, dlq.sasl_password.get_secret_value()) == ("argus-job-dlq", "d")
    assert dlq.kafka_principals.get_secret_value() == ""  # a job holds its own password only
    unknown = settings.as_principal("argus-analytics")  # production: the process's own user stays
    assert (unknown.sasl_username, unknown.kafka_principals.get_secret_value()) == ("argus-gateway", "")


@pytest.mark.parametrize("page", [README, README.parent / "docs" / "operations.md"], ids=lambda p: p.name)
def test_the_tables_in_the_readme_and_the_docs_are_the_catalogs(page: Path) -> None:
    text = page.read_text()
    start = text.index("<!-- principals:")
    block = text[text.index("\n", start) + 1:text.index("<!-- /principals -->")].strip()
    assert block == table()
