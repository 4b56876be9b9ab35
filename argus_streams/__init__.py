"""Argus Streams: the event contract, producer gateway and tools shared by the PyFlink jobs.

The public names below are imported on first use (PEP 562), so `import argus_streams` stays cheap: a command
that stops the local stack does not load the Kafka client.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from argus_streams import _legacy

_legacy.install()

if TYPE_CHECKING:
    from argus_streams.bus.gateway import EventGateway
    from argus_streams.contract.events import ArgusEvent, EventType, partition_key, topic_for
    from argus_streams.errors import (
        ArgusStreamsError,
        BrokerAuthError,
        CircuitOpenError,
        ConfigurationError,
        EventValidationError,
        PublishError,
        ServiceStartError,
    )
    from argus_streams.settings import Settings

_WHERE = {
    "EventGateway": "argus_streams.bus.gateway",
    "ArgusEvent": "argus_streams.contract.events",
    "EventType": "argus_streams.contract.events",
    "partition_key": "argus_streams.contract.events",
    "topic_for": "argus_streams.contract.events",
    "ArgusStreamsError": "argus_streams.errors",
    "BrokerAuthError": "argus_streams.errors",
    "CircuitOpenError": "argus_streams.errors",
    "ConfigurationError": "argus_streams.errors",
    "EventValidationError": "argus_streams.errors",
    "PublishError": "argus_streams.errors",
    "ServiceStartError": "argus_streams.errors",
    "Settings": "argus_streams.settings",
}
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


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'argus_streams' has no attribute {name!r}")
    value = getattr(import_module(_WHERE[name]), name)
    globals()[name] = value
    return value
