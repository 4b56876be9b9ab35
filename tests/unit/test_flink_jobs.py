"""Job names: what a job calls itself in Flink and what the CLI expects it to be called (no cluster needed)."""

from __future__ import annotations

from pathlib import Path

from argus_streams.flink import cluster
from argus_streams.settings import Settings


def test_a_jobs_flink_name_says_its_group_and_prefix_when_they_are_not_the_defaults() -> None:
    assert cluster.flink_job_name("failures") == "argus-failures"
    assert cluster.flink_job_name("failures", "argus-flink-failures", "argus") == "argus-failures"
    assert cluster.flink_job_name("dlq", "g1", "argus") == "argus-dlq (group g1)"
    assert cluster.flink_job_name("dlq", None, "t1") == "argus-dlq (prefix t1)"
    assert cluster.flink_job_name("knowledge-graph", "g", "t") == "argus-knowledge-graph (group g, prefix t)"


def test_the_cli_predicts_the_name_the_job_gives_itself() -> None:
    settings = Settings.load().model_copy(update={"topic_prefix": "argus"})
    assert cluster.intended_name(settings, "healing") == "argus-healing"
    assert cluster.intended_name(settings, "healing", ("--parallelism", "1", "--group-id", "g")) == \
        "argus-healing (group g)"
    assert cluster.intended_name(settings, "healing", ("--topic-prefix", "p", "--without-healer")) == \
        "argus-healing (prefix p)"
    other = settings.model_copy(update={"topic_prefix": "env-prefix"})  # $ARGUS_TOPIC_PREFIX, as the job reads it
    assert cluster.intended_name(other, "dlq") == "argus-dlq (prefix env-prefix)"


def test_every_job_names_itself_as_the_cli_predicts() -> None:
    """Each job takes its default consumer group and its Flink name from its JobSpec, which the CLI reads too;
    its `flink run -py` entry point runs that job's module."""
    import importlib

    for name, spec in cluster.JOBS.items():
        module = importlib.import_module(spec.module)
        assert module.SPEC is spec and spec.name == name, name
        assert spec.flink_name() == cluster.flink_job_name(name) == f"argus-{name}", name
        source = Path(module.__file__).read_text()
        assert "job_parser(__doc__, SPEC.default_group)" in source, name
        assert "settings = job_settings(args, SPEC.name)" in source, name  # the job's own Kafka principal
        assert "env.execute(SPEC.flink_name(args.group_id, settings.topic_prefix))" in source, name
        assert f"from {spec.module} import main" in spec.entry_point.read_text(), name


def test_job_submit_splits_its_own_options_from_the_jobs() -> None:
    from argus_streams.cli.jobs import _split_submit_args

    assert _split_submit_args(["--", "--group-id", "g"]) == (("--", "--group-id", "g")[1:], None)
    assert _split_submit_args(["--group-id", "g"]) == (("--group-id", "g"), None)  # argparse may drop the --
    assert _split_submit_args(["--from", "/p", "--", "--from", "x"]) == (("--from", "x"), "/p")  # the job's own
    assert _split_submit_args(["--from=/q", "--parallelism", "1"]) == (("--parallelism", "1"), "/q")
