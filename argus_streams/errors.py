"""Every error Argus Streams raises, under one root. Most live here; the rest beside the code that raises them.

    ArgusStreamsError
    ├── BadData                     the record's own fault: it goes to the DLQ with its context (never a bug)
    │   ├── EventValidationError    an event or payload that breaks the contract (names the field)
    │   │   ├── healing.budget.HealingInputError      a healing record the healer cannot use
    │   │   │   └── healing.budget.HealingTimeout     ... or that ran past its CPU deadline
    │   │   └── knowledge_graph.paths.CodebaseError   a codebase that may not or cannot be read
    │   │       ├── PathRefused, CodebaseNotFound, ExtractionTimeout
    │   ├── failures.logic.UnexpectedEventType        an event type the failure job does not read
    │   ├── failures.logic.TenantKeyMismatch          a record keyed for another tenant than its event's
    │   ├── failures.job.GraphWriteRefused            a graph store refused a row as data
    │   └── healing.css.SelectorError                 a selector that does not parse
    ├── StoreUnavailable            a store or service is down: retried with backoff, never the DLQ
    │   ├── dlq.review.ReviewStoreUnavailable
    │   ├── knowledge_graph.vectors.VectorStoreUnavailable
    │   └── knowledge_graph.enrich.EnrichmentUnavailable
    ├── OperationTimeout            a job's async call ran past its timeout (dead-lettered and retried)
    ├── ConfigurationError          settings that cannot work
    │   └── flink.sql_ddl.SchemaTypeError             a schema type with no Flink SQL type
    ├── ServiceStartError           a local service that cannot start (names the service and its log)
    ├── flink.cluster.JobError      a job that cannot be submitted, found, cancelled or savepointed
    ├── flink.sql_runner.SqlError   an analytics statement the cluster refused
    ├── knowledge_graph.vectors.AmbiguousName         a name that matches more than one symbol
    └── PublishError                the gateway could not publish an event
        ├── BrokerAuthError         the broker refused our credentials
        ├── PublishRefused          the broker's ACLs do not let our principal write that topic
        └── CircuitOpenError        the breaker is open: failing fast without touching the broker

What a job does with an error is stores/policy.py's: `is_data_error` (BadData and the stores' refusals of a
record's values) sends the record to the DLQ, `is_transient` (StoreUnavailable and the clients' connection
errors) retries with backoff, anything else fails the task.
"""

from __future__ import annotations


class ArgusStreamsError(Exception):
    """Root of every error raised by this package."""


class BadData(ArgusStreamsError, ValueError):
    """Input that is wrong in itself: retrying it fails the same way, so it goes to the DLQ with its context.
    Raised on purpose; a plain ValueError or TypeError is a bug and fails the task."""


class EventValidationError(BadData):
    """An event or payload that does not follow the contract; `field` names the offending field."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(f"{field}: {message}")


class StoreUnavailable(ArgusStreamsError, ConnectionError):
    """A store or service a job uses is down or unreachable: transient, retried with backoff."""


class ConfigurationError(ArgusStreamsError):
    """Settings that cannot work."""


class ServiceStartError(ArgusStreamsError):
    """A local service could not start; the message names it and its log."""


class OperationTimeout(ArgusStreamsError):
    """A job's async call for one record ran past the operator's timeout. Not a data error: the DLQ job
    retries the record with backoff, and sends it to review after its max retries."""


class PublishError(ArgusStreamsError):
    """The gateway could not publish an event."""


class BrokerAuthError(PublishError):
    """The broker refused the configured SASL credentials."""


class PublishRefused(PublishError):
    """The broker's ACLs do not let this principal write that topic (bus/principals.py)."""


class CircuitOpenError(PublishError):
    """The circuit breaker is open: the call failed fast."""
