"""The knowledge-graph job's entry point for `flink run -py jobs/knowledge_graph.py` (its module: job.py)."""

from argus_streams.knowledge_graph.job import main

if __name__ == "__main__":
    main()
