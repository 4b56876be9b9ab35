"""Argus Streams: the event contract, producer gateway and tools shared by the PyFlink jobs."""

from argus_streams.errors import (
    ArgusStreamsError,
    BrokerAuthError,
    CircuitOpenError,
    ConfigurationError,
    EventValidationError,
    PublishError,
    ServiceStartError,
)
from argus_streams.events import ArgusEvent, EventType, partition_key, topic_for
from argus_streams.gateway import EventGateway
from argus_streams.settings import Settings

__all__ = [
    "ArgusEvent",
    "ArgusStreamsError",
    "BrokerAuthError",
    "CircuitOpenError",
    "ConfigurationError",
    "EventGateway",
    "EventType",
    "EventValidationError",
    "PublishError",
    "ServiceStartError",
    "Settings",
    "partition_key",
    "topic_for",
]
