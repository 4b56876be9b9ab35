"""Every error Argus Streams raises, under one root.

    ArgusStreamsError
    ├── EventValidationError      an event or payload that breaks the contract (names the field)
    ├── ConfigurationError        settings that cannot work
    ├── ServiceStartError         a local service that cannot start (names the service and its log)
    ├── OperationTimeout          a job's async call ran past its timeout (dead-lettered and retried)
    └── PublishError              the gateway could not publish an event
        ├── BrokerAuthError       the broker refused our credentials
        └── CircuitOpenError      the breaker is open: failing fast without touching the broker
"""

from __future__ import annotations


class ArgusStreamsError(Exception):
    """Root of every error raised by this package."""


class EventValidationError(ArgusStreamsError, ValueError):
    """An event or payload that does not follow the contract; `field` names the offending field."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(f"{field}: {message}")


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


class CircuitOpenError(PublishError):
    """The circuit breaker is open: the call failed fast."""
