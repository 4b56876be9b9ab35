"""The CLI as a user runs it: `argus-streams <command>` in a process of its own, against the test stack
(its settings from the generated stack.env), checked by what it prints and what it changed."""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
from argus_dev import faults

from argus_streams.contract.topics import catalog
from argus_streams.flink import cluster
from tests.conftest import cli_env


def run(stack, prefix: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:  # noqa: ANN001
    return subprocess.run([sys.executable, "-m", "argus_streams.cli", *args], capture_output=True, text=True,
                          env=cli_env(stack, ARGUS_TOPIC_PREFIX=prefix), cwd=cwd, timeout=120, check=False)


def secrets(stack) -> dict[str, str]:  # noqa: ANN001
    pairs = (line.split("=", 1) for line in stack.layout.secrets_file.read_text().splitlines() if "=" in line)
    return {k: v for k, v in pairs if k.endswith("PASSWORD")}


def test_config_prints_every_setting_and_no_secret(stack, prefix) -> None:  # noqa: ANN001
    done = run(stack, prefix, "config")
    assert done.returncode == 0, done.stderr
    shown = dict(line.split("=", 1) for line in done.stdout.splitlines())
    assert shown["ARGUS_TOPIC_PREFIX"] == prefix
    assert shown["FLINK_REST_URL"] == stack.settings().flink_rest_url
    for name, password in secrets(stack).items():
        assert len(password) >= 16 and password not in done.stdout + done.stderr, name
    assert shown["NEO4J_PASSWORD"] == "********"


def test_topics_list_shows_the_catalog_and_ensure_changes_nothing(stack, prefix) -> None:  # noqa: ANN001
    done = run(stack, prefix, "topics", "list")
    assert done.returncode == 0, done.stderr
    rows = [line.split() for line in done.stdout.splitlines()[1:]]
    assert [(r[0], int(r[1])) for r in rows] == [(spec.name, spec.partitions) for spec in catalog(prefix)]
    again = run(stack, prefix, "topics", "ensure")
    assert again.returncode == 0, again.stderr
    assert [line.split()[:2] for line in again.stdout.splitlines()] == [[spec.name, "ok"] for spec in catalog(prefix)]


def test_schema_writes_one_valid_json_schema_per_payload(stack, prefix, tmp_path: Path) -> None:  # noqa: ANN001
    done = run(stack, prefix, "schema", "--out", str(tmp_path / "schemas"))
    assert done.returncode == 0, done.stderr
    written = sorted(Path(line).name for line in done.stdout.splitlines())
    assert written == sorted(p.name for p in (tmp_path / "schemas").iterdir())
    assert written == sorted(f"{stem}.schema.json" for stem in (
        "argus-event", "payload.codebase.ingested", "payload.codebase.analyzed", "payload.test.created",
        "payload.test.executed", "payload.test.failed", "payload.healing.requested", "payload.healing.completed",
        "payload.dlq"))
    for path in (tmp_path / "schemas").iterdir():
        schema = json.loads(path.read_text())
        assert schema.get("type") == "object" and schema.get("properties"), path.name


def test_job_list_and_a_bad_job_name(stack, prefix) -> None:  # noqa: ANN001
    listed = run(stack, prefix, "job", "list")
    assert listed.returncode == 0, listed.stderr
    assert all(len(line.split()) >= 3 for line in listed.stdout.splitlines())  # id, state, name per job
    bad = run(stack, prefix, "job", "submit", "no-such-job")
    assert bad.returncode != 0 and "unknown job 'no-such-job'" in bad.stderr + bad.stdout


def test_job_submit_is_idempotent_and_the_name_says_group_and_prefix(stack, prefix) -> None:  # noqa: ANN001
    """Re-running `job submit` starts nothing twice: the job of the same name, consumer group and topic prefix
    is found ("already running as <id>", exit 0); its Flink name carries the group and prefix it reads with."""
    args = ("job", "submit", "failures", "--", "--group-id", f"{prefix}-cli", "--graph", prefix)
    first = run(stack, prefix, *args)
    assert first.returncode == 0, first.stderr
    job_id = re.search(r"failures: submitted as ([0-9a-f]{32})", first.stdout).group(1)
    try:
        again = run(stack, prefix, *args)
        assert again.returncode == 0, again.stderr
        assert f"failures: already running as {job_id}" in again.stdout and "submitted" not in again.stdout
        restore = run(stack, prefix, "job", "submit", "failures", "--from", "/nowhere", *args[3:])
        assert restore.returncode == 2 and f"already running as {job_id}" in restore.stderr
        listed = run(stack, prefix, "job", "list").stdout.splitlines()
        mine = [line for line in listed if f"group {prefix}-cli" in line and "CANCEL" not in line]
        assert len(mine) == 1 and mine[0].startswith(job_id), listed
        assert mine[0].endswith(f"argus-failures (group {prefix}-cli, prefix {prefix})")
    finally:
        cluster.cancel(stack.settings(), job_id)


@pytest.mark.faults  # it stops and starts FalkorDB
def test_status_up_and_down_as_commands(stack, prefix) -> None:  # noqa: ANN001
    """`status`, `up` and `down` act on the stack ARGUS_STACK_DIR and ARGUS_STACK_PORT_OFFSET name: here the
    test stack. `up` on a running stack restarts nothing; `down --only` stops one server, whose data the next
    `up` brings back; `status` exits 3 while a service is down."""
    status = run(stack, prefix, "status", "--json")
    assert status.returncode == 0, status.stderr
    rows = {row["name"]: row for row in json.loads(status.stdout)}
    assert set(rows) == {"falkordb", "postgres", "kafka", "neo4j", "flink"}
    assert all(row["running"] and row["healthy"] for row in rows.values()), rows
    assert f":{stack.layout.ports.kafka} " in rows["kafka"]["endpoint"]
    assert rows["flink"]["log"] == str(stack.layout.logs_dir / "flink.log")
    pids = {service.name: service.pid() for service in stack.services}

    up = run(stack, prefix, "up")
    assert up.returncode == 0, up.stderr
    assert {line.split()[0] for line in up.stdout.splitlines() if line.split()[1:2] == ["up"]} == set(rows)
    assert {service.name: service.pid() for service in stack.services} == pids, "up restarted a running server"

    falkordb = stack.service("falkordb")
    cache = redis.Redis.from_url(stack.settings().falkordb_url.get_secret_value())
    cache.set(f"{prefix}:kept", "across down and up")
    cache.close()
    down = run(stack, prefix, "down", "--only", "falkordb")
    assert down.returncode == 0 and down.stdout.split() == ["falkordb", "stopped"], down.stdout + down.stderr
    assert falkordb.pid() is None and pids["falkordb"] not in {s.pid() for s in stack.services}
    halfway = run(stack, prefix, "status")
    assert halfway.returncode == 3
    states = dict(line.split()[:2] for line in halfway.stdout.splitlines())
    assert states == {**{name: "healthy" for name in rows}, "falkordb": "stopped"}, halfway.stdout
    again = run(stack, prefix, "down", "--only", "falkordb")
    assert again.stdout.split() == ["falkordb", "was", "not", "running"], again.stdout

    back = run(stack, prefix, "up", "--only", "falkordb")
    assert back.returncode == 0, back.stderr
    assert falkordb.is_running() and falkordb.healthy()
    cache = redis.Redis.from_url(stack.settings().falkordb_url.get_secret_value())
    try:
        assert cache.get(f"{prefix}:kept") == b"across down and up"
    finally:
        cache.close()
    assert run(stack, prefix, "status").returncode == 0


def known_events() -> list:
    """Eight runs in the minute 09:00 of 2026-11-01: suite s1 with 3 passed, 3 failed (one test.executed, two
    test.failed) and 1 skipped; suite s2 with 1 passed."""
    from argus_dev.samples import executed_event, failed_event

    rng, minute = random.Random(11), datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
    events = [executed_event(rng, tenant="acme", suite="s1", test=f"t{n}", run=n, status=status,
                             when=minute + timedelta(seconds=5 * n))
              for n, status in enumerate(["passed", "passed", "passed", "failed", "skipped"])]
    events += [failed_event(rng, tenant="acme", suite="s1", test="t3", signature_id=0, run=10 + n,
                            when=minute + timedelta(seconds=30 + n)) for n in range(2)]
    events.append(executed_event(rng, tenant="acme", suite="s2", test="u1", run=20, status="passed",
                                 when=minute + timedelta(seconds=50)))
    return events


def test_publish_job_metrics_and_sql_as_commands(stack, prefix, tmp_path: Path) -> None:  # noqa: ANN001
    """publish -> the failure job -> `metrics` counts them; `sql run` answers over the same topics with rows
    derived by hand; `sql list` and `sql ddl` show what sql/ holds."""
    events = known_events()
    jsonl = tmp_path / "events.jsonl"
    jsonl.write_text("".join(event.to_json() + "\n" for event in events))
    published = run(stack, prefix, "publish", str(jsonl))
    assert published.returncode == 0, published.stderr
    counts = dict(line.split()[:2] for line in published.stdout.splitlines())
    assert counts == {f"{prefix}.test.executed": "6", f"{prefix}.test.failed": "2", "total": "8"}

    group = f"{prefix}-metrics"
    submitted = run(stack, prefix, "job", "submit", "failures", "--", "--group-id", group, "--graph", prefix)
    assert submitted.returncode == 0, submitted.stderr
    job_id = re.search(r"failures: submitted as ([0-9a-f]{32})", submitted.stdout).group(1)
    try:
        name = f"argus-failures (group {group}, prefix {prefix})"
        deadline, seen = time.monotonic() + 120, {}
        while time.monotonic() < deadline:
            shown = run(stack, prefix, "metrics", "--job", name, "--json")
            assert shown.returncode == 0, shown.stderr
            seen = {row["labels"].get("event_type"): row["value"] for row in json.loads(shown.stdout)
                    if row["metric"] == "events"}
            if seen == {"test_executed": 6.0, "test_failed": 2.0}:
                break
            time.sleep(2)
        assert seen == {"test_executed": 6.0, "test_failed": 2.0}
        table = run(stack, prefix, "metrics", "--job", name)
        assert table.stdout.splitlines()[0].split() == ["JOB", "OPERATOR", "METRIC", "LABELS", "VALUE"]
        assert run(stack, prefix, "metrics", "--job", "no-such-job", "--json").stdout.strip() == "[]"
    finally:
        cluster.cancel(stack.settings(), job_id)

    answered = run(stack, prefix, "sql", "run", "failure_rate_per_suite", "--topic-prefix", prefix,
                   "--parallelism", "1")
    assert answered.returncode == 0, answered.stderr
    lines = answered.stdout.strip().splitlines()
    assert re.split(r"\s{2,}", lines[0]) == ["window_start", "window_end", "tenant_id", "test_suite_id", "passed",
                                            "failed", "skipped", "failure_rate"]
    assert [re.split(r"\s{2,}", line) for line in lines[1:-1]] == [
        ["2026-11-01 09:00:00", "2026-11-01 09:01:00", "acme", "s1", "3", "3", "1", "0.5"],
        ["2026-11-01 09:00:00", "2026-11-01 09:01:00", "acme", "s2", "1", "0", "0", "0.0"],
    ]
    assert lines[-1] == "(2 rows)"

    listed = run(stack, prefix, "sql", "list")
    assert [line.split()[0] for line in listed.stdout.splitlines()] == [
        "dlq_inflow", "failure_rate_per_suite", "flaky_tests", "healing_outcomes", "ingestion_volume",
        "top_failure_signatures"]
    template = run(stack, prefix, "sql", "ddl", "--template")
    assert template.stdout == (Path(__file__).parents[2] / "sql" / "ddl.sql").read_text()  # the file is current
    out = tmp_path / "ddl.sql"
    written = run(stack, prefix, "sql", "ddl", "--topic-prefix", prefix, "--out", str(out))
    assert written.returncode == 0 and written.stdout.strip() == str(out)
    assert out.stat().st_mode & 0o777 == 0o600  # it holds the broker password
    ddl = out.read_text()
    assert all(f"'topic' = '{spec.name}'" in ddl for spec in catalog(prefix))


@pytest.mark.faults  # it kills the TaskManager
def test_up_waits_for_the_taskmanager_the_watchdog_restarts(stack, prefix) -> None:  # noqa: ANN001
    """After a TaskManager crash the JobManager still holds the cluster's ports: `up` knows them as its own and
    waits for the watchdog's new TaskManager instead of calling them taken (or restarting the cluster)."""
    flink = stack.service("flink")
    jobmanager = flink._live("standalonesession")
    killed = faults.kill_taskmanager(stack)
    # The JobManager lists the dead TaskManager for a while: it is no registered TaskManager (`up` once returned
    # on that ghost, and the cluster had none a moment later)
    assert not flink.healthy()
    status = {row["name"]: row for row in json.loads(run(stack, prefix, "status", "--json").stdout)}
    assert status["flink"]["state"] in {"starting", "running", "healthy"}, status["flink"]  # not blocked
    up = run(stack, prefix, "up")
    assert up.returncode == 0, up.stdout + up.stderr
    assert "already taken" not in up.stdout + up.stderr
    assert flink._live("standalonesession") == jobmanager  # the same JobManager: nothing was restarted whole
    assert flink._live("taskexecutor") and killed not in flink._live("taskexecutor")
    assert flink.healthy()
