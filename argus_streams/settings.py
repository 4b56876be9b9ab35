"""Settings: one frozen object, each field read from the environment variable that is its alias.

Precedence: explicit values > environment variables > the local stack's generated `stack.env`
(the credentials `argus-streams up` created) > defaults. Secrets are `SecretStr` and never printed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from argus_streams.contract.events import DEFAULT_TOPIC_PREFIX
from argus_streams.home import DEFAULT_STATE_DIR, STACK_DIR_VAR

STACK_ENV_VAR = "ARGUS_STACK_ENV"
DEFAULT_STACK_ENV = DEFAULT_STATE_DIR / "stack.env"


def default_stack_env() -> Path:
    """The `stack.env` of the stack `ARGUS_STACK_DIR` names, else of the default stack."""
    folder = os.environ.get(STACK_DIR_VAR)
    return Path(folder) / "stack.env" if folder else DEFAULT_STACK_ENV


class Settings(BaseSettings):
    """Effective configuration of every tool and job; the alias of each field is its variable."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    # Broker: the seed's variable names.
    brokers: str = Field("127.0.0.1:9092", alias="REDPANDA_BROKERS")
    sasl_username: str = Field("argus-service", alias="REDPANDA_SASL_USERNAME")
    sasl_password: SecretStr = Field(SecretStr(""), alias="REDPANDA_SASL_PASSWORD")
    sasl_mechanism: str = Field("SCRAM-SHA-512", alias="REDPANDA_SASL_MECHANISM")
    security_protocol: str = Field("SASL_PLAINTEXT", alias="REDPANDA_SECURITY_PROTOCOL")
    # The local stack's every Kafka principal with its password ("name:password,..."; bus/principals.py), from
    # which `as_principal` picks one. Unset in production, where each service's own user is the one above.
    kafka_principals: SecretStr = Field(SecretStr(""), alias="ARGUS_KAFKA_PRINCIPALS")
    # Consumers and producers: the seed's variable names and defaults.
    consumer_group: str = Field("argus-cognee-workers", alias="KAFKA_CONSUMER_GROUP")
    auto_offset_reset: Literal["earliest", "latest"] = Field("earliest", alias="KAFKA_AUTO_OFFSET_RESET")
    max_poll_records: int = Field(10, alias="KAFKA_MAX_POLL_RECORDS", gt=0)
    session_timeout_ms: int = Field(30_000, alias="KAFKA_SESSION_TIMEOUT_MS", gt=0)
    acks: Literal["all", "0", "1", "-1"] = Field("all", alias="KAFKA_ACKS")
    compression_type: Literal["gzip", "snappy", "lz4", "zstd", "none"] = Field(
        "gzip", alias="KAFKA_COMPRESSION_TYPE"
    )
    enable_idempotence: bool = Field(True, alias="KAFKA_ENABLE_IDEMPOTENCE")
    # Namespace of the 8 topics: `<prefix>.<event_type>` (tests use their own prefix).
    topic_prefix: str = Field(DEFAULT_TOPIC_PREFIX, alias="ARGUS_TOPIC_PREFIX")
    # Stores.
    falkordb_url: SecretStr = Field(SecretStr("redis://127.0.0.1:6379"), alias="FALKORDB_URL")
    falkordb_graph: str = Field("argus", alias="FALKORDB_GRAPH")
    neo4j_uri: str = Field("bolt://127.0.0.1:7687", alias="NEO4J_URI")
    neo4j_user: str = Field("neo4j", alias="NEO4J_USER")
    neo4j_password: SecretStr = Field(SecretStr(""), alias="NEO4J_PASSWORD")
    database_url: SecretStr = Field(SecretStr("postgresql://argus@127.0.0.1:5432/argus"), alias="DATABASE_URL")
    cache_url: SecretStr = Field(SecretStr("redis://127.0.0.1:6379"), alias="CACHE_URL")
    # Flink session cluster.
    flink_rest_url: str = Field("http://127.0.0.1:8081", alias="FLINK_REST_URL")
    # Knowledge graph: codebase.ingested paths are read only under this directory; any other is refused.
    codebase_root: str = Field(str(DEFAULT_STATE_DIR.parent / "codebases"), alias="CODEBASE_ROOT")
    # Optional Cognee enrichment of the knowledge graph (codegraph/enrich.py): the Python of its own venv
    # (`make cognee`: .venv-cognee/bin/python; empty: off) and a file of its LLM_* / EMBEDDING_* settings
    # (API keys included: a file, never job arguments, which the Flink web UI shows).
    cognee_python: str = Field("", alias="COGNEE_PYTHON")
    cognee_env_file: str = Field("", alias="COGNEE_ENV_FILE")
    # Dead-letter alerts: an HMAC-signed webhook (empty URL: only the log line and the counter).
    alert_webhook_url: str = Field("", alias="ARGUS_ALERT_WEBHOOK_URL")
    alert_webhook_secret: SecretStr = Field(SecretStr(""), alias="ARGUS_ALERT_WEBHOOK_SECRET")

    @classmethod
    def load(cls, stack_env: Path | None = None, **overrides: Any) -> Settings:
        """Settings from the environment, completed by the local stack's `stack.env` when present."""
        env_file = stack_env or Path(os.environ.get(STACK_ENV_VAR) or default_stack_env())
        return cls(_env_file=env_file if env_file.is_file() else None, **overrides)  # type: ignore[call-arg]

    @classmethod
    def for_stack_file(cls, stack_env: Path) -> Settings:
        """Settings of one local stack: its file wins over the environment (tests use this)."""
        values: dict[str, Any] = dict(read_env_file(stack_env))
        return cls(**values)

    def as_principal(self, name: str) -> Settings:
        """These settings logged in to Kafka as `name` when its password is known (the local stack's), else as
        before. Either way without the other principals' passwords: what a job or command holds is its own."""
        known = parse_principals(self.kafka_principals.get_secret_value())
        update: dict[str, Any] = {"kafka_principals": SecretStr("")}
        if name in known:
            update |= {"sasl_username": name, "sasl_password": SecretStr(known[name])}
        return self.model_copy(update=update)

    def kafka_client_config(self) -> dict[str, Any]:
        """Connection settings for kafka-python clients (producer, consumer and admin)."""
        config: dict[str, Any] = {
            "bootstrap_servers": self.brokers.split(","),
            "security_protocol": self.security_protocol,
        }
        if self.security_protocol.startswith("SASL"):
            config.update(
                sasl_mechanism=self.sasl_mechanism,
                sasl_plain_username=self.sasl_username,
                sasl_plain_password=self.sasl_password.get_secret_value(),
            )
        return config

    def masked(self) -> dict[str, str]:
        """Every setting by its variable name, secrets and URL passwords masked (for `config`)."""
        shown: dict[str, str] = {}
        for name, info in type(self).model_fields.items():
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                raw = value.get_secret_value()
                text = mask_url(raw) if "://" in raw else ("********" if raw else "")
            else:
                text = str(value)
            shown[info.alias or name] = text
        return shown


def parse_principals(text: str) -> dict[str, str]:
    """`name:password,name:password` (ARGUS_KAFKA_PRINCIPALS) as a dict."""
    pairs = (item.partition(":") for item in text.split(",") if item.strip())
    return {name.strip(): password.strip() for name, _, password in pairs}


def format_principals(passwords: dict[str, str]) -> str:
    return ",".join(f"{name}:{password}" for name, password in passwords.items())


def mask_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:********@{host}"))


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines (the format `stack.env` is written in)."""
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def write_env_file(path: Path, values: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.write_text("".join(f"{key}={value}\n" for key, value in values.items()))
