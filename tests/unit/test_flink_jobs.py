"""Job names: what a job calls itself in Flink and what the CLI expects it to be called (no cluster needed)."""

from __future__ import annotations

from argus_streams import flink_jobs
from argus_streams.settings import Settings


def test_a_jobs_flink_name_says_its_group_and_prefix_when_they_are_not_the_defaults() -> None:
    assert flink_jobs.flink_job_name("failures") == "argus-failures"
    assert flink_jobs.flink_job_name("failures", "argus-flink-failures", "argus") == "argus-failures"
    assert flink_jobs.flink_job_name("dlq", "g1", "argus") == "argus-dlq (group g1)"
    assert flink_jobs.flink_job_name("dlq", None, "t1") == "argus-dlq (prefix t1)"
    assert flink_jobs.flink_job_name("knowledge-graph", "g", "t") == "argus-knowledge-graph (group g, prefix t)"


def test_the_cli_predicts_the_name_the_job_gives_itself() -> None:
    settings = Settings.load().model_copy(update={"topic_prefix": "argus"})
    assert flink_jobs.intended_name(settings, "healing") == "argus-healing"
    assert flink_jobs.intended_name(settings, "healing", ("--parallelism", "1", "--group-id", "g")) == \
        "argus-healing (group g)"
    assert flink_jobs.intended_name(settings, "healing", ("--topic-prefix", "p", "--without-healer")) == \
        "argus-healing (prefix p)"
    other = settings.model_copy(update={"topic_prefix": "env-prefix"})  # $ARGUS_TOPIC_PREFIX, as the job reads it
    assert flink_jobs.intended_name(other, "dlq") == "argus-dlq (prefix env-prefix)"


def test_every_job_names_itself_as_the_cli_predicts() -> None:
    """Each job's JOB_NAME and default consumer group are the ones flink_job_name and default_group assume."""
    import importlib

    for name, path in flink_jobs.JOBS.items():
        module = importlib.import_module(f"jobs.{path.stem}")
        assert module.JOB_NAME == flink_jobs.flink_job_name(name), name
        source = path.read_text()
        assert f'job_parser(__doc__, "{flink_jobs.default_group(name)}")' in source, name
        assert f'env.execute(flink_job_name("{name}", args.group_id, job_settings(args).topic_prefix))' in source


def test_job_submit_splits_its_own_options_from_the_jobs() -> None:
    from argus_streams.cli import _split_submit_args

    assert _split_submit_args(["--", "--group-id", "g"]) == (("--", "--group-id", "g")[1:], None)
    assert _split_submit_args(["--group-id", "g"]) == (("--group-id", "g"), None)  # argparse may drop the --
    assert _split_submit_args(["--from", "/p", "--", "--from", "x"]) == (("--from", "x"), "/p")  # the job's own
    assert _split_submit_args(["--from=/q", "--parallelism", "1"]) == (("--parallelism", "1"), "/q")
