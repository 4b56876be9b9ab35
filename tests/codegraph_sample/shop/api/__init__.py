"""The shop's HTTP API."""
