"""What the jobs share on Flink: the environment, sources and sinks, `JobSpec`, counters, micro-batching,
the session cluster (submit, list, cancel, savepoint) and the SQL analytics."""
