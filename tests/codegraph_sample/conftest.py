"""The sample codebase is data for the knowledge-graph tests, not tests of this project: never collect it."""

collect_ignore_glob = ["shop/*"]
