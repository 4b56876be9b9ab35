"""The dlq job's entry point for `flink run -py jobs/dlq.py` (the job: argus_streams/dlq/job.py)."""

from argus_streams.dlq.job import main

if __name__ == "__main__":
    main()
