"""The failures job's entry point for `flink run -py jobs/failures.py` (the job: argus_streams/failures/job.py)."""

from argus_streams.failures.job import main

if __name__ == "__main__":
    main()
