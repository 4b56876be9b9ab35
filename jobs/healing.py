"""The healing job's entry point for `flink run -py jobs/healing.py` (the job: argus_streams/healing/job.py)."""

from argus_streams.healing.job import main

if __name__ == "__main__":
    main()
