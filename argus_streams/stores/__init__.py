"""The stores below the jobs: graph clients (FalkorDB, Neo4j), PostgreSQL, and the one error policy."""
