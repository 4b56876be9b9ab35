"""The producer gateway: how Argus services and our tools publish `ArgusEvent`s.

acks=all, idempotence, gzip, at most 5 requests in flight, the seed's headers and partition keys,
bounded retries with exponential backoff, a circuit breaker, and Prometheus metrics.

    with EventGateway(Settings.load()) as gateway:
        metadata = gateway.publish(event)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaError, KafkaTimeoutError, SaslAuthenticationFailedError, TopicAuthorizationFailedError
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from argus_streams.bus.breaker import BreakerState, CircuitBreaker
from argus_streams.contract.events import ArgusEvent
from argus_streams.errors import BrokerAuthError, CircuitOpenError, PublishError, PublishRefused
from argus_streams.home import port_open
from argus_streams.settings import Settings

log = logging.getLogger(__name__)

MAX_IN_FLIGHT = 5  # the most that idempotence keeps in order


@dataclass(frozen=True)
class GatewayTimeouts:
    """Bounds that turn a dead broker into an error within seconds instead of a two-minute hang."""

    bootstrap_ms: int = 10_000
    request_ms: int = 5_000
    delivery_ms: int = 15_000
    max_block_ms: int = 5_000
    # Retries before a record is enqueued (metadata not available); the producer retries on its own after.
    send_attempts: int = 3
    backoff_initial_s: float = 0.2
    backoff_max_s: float = 2.0


DEFAULT_TIMEOUTS = GatewayTimeouts()
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class GatewayMetrics:
    """Counters and a latency histogram in a registry of their own (one per gateway)."""

    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = registry or CollectorRegistry()
        self.published = Counter(
            "argus_gateway_events_published", "Events acknowledged by the broker", ["topic"],
            registry=self.registry,
        )
        self.failed = Counter(
            "argus_gateway_publish_failures", "Events the gateway could not publish", ["topic", "error"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "argus_gateway_publish_latency_seconds", "Send to broker acknowledgement",
            buckets=LATENCY_BUCKETS, registry=self.registry,
        )
        self.breaker_open = Gauge(
            "argus_gateway_circuit_open", "1 while the circuit breaker is open or probing",
            registry=self.registry,
        )


class EventGateway:
    """Central event publishing gateway (the seed's `EventGateway`, on kafka-python)."""

    def __init__(
        self,
        settings: Settings,
        *,
        timeouts: GatewayTimeouts = DEFAULT_TIMEOUTS,
        breaker: CircuitBreaker | None = None,
        metrics: GatewayMetrics | None = None,
        producer_factory: Callable[..., Any] = KafkaProducer,
        **producer_overrides: Any,
    ):
        self.settings = settings
        self.timeouts = timeouts
        self.metrics = metrics or GatewayMetrics()
        self.breaker = breaker or CircuitBreaker("event-gateway", on_change=self._breaker_changed)
        self._producer_factory = producer_factory
        self._producer_overrides = producer_overrides
        self._producer: Any = None

    # Life cycle -----------------------------------------------------------------------------------
    def start(self) -> EventGateway:
        if self._producer is None:
            self._producer = self._connect()
        return self

    def close(self, timeout_s: float = 10.0) -> None:
        if self._producer is not None:
            self._producer.close(timeout=timeout_s)
            self._producer = None

    def __enter__(self) -> EventGateway:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def producer_config(self) -> dict[str, Any]:
        s, t = self.settings, self.timeouts
        config = {
            **s.kafka_client_config(),
            "acks": "all" if s.acks in ("all", "-1") else int(s.acks),
            "enable_idempotence": s.enable_idempotence,
            "compression_type": None if s.compression_type == "none" else s.compression_type,
            "max_in_flight_requests_per_connection": MAX_IN_FLIGHT,
            "bootstrap_timeout_ms": t.bootstrap_ms,
            "request_timeout_ms": t.request_ms,
            "delivery_timeout_ms": t.delivery_ms,
            "max_block_ms": t.max_block_ms,
            "retry_backoff_ms": int(t.backoff_initial_s * 1000),
            "linger_ms": 5,
            "client_id": "argus-event-gateway",
        }
        config.update(self._producer_overrides)
        return config

    def _connect(self) -> Any:
        try:
            return self._producer_factory(**self.producer_config())
        except SaslAuthenticationFailedError as exc:
            raise self._auth_error(exc) from exc
        except KafkaTimeoutError as exc:
            # A SCRAM broker closes the socket on bad credentials without an error response, so the
            # client only sees a bootstrap timeout: a broker that accepts TCP but never let us in
            # refused our login.
            if any(_accepts_tcp(server) for server in self.settings.brokers.split(",")):
                raise self._auth_error(exc) from exc
            raise PublishError(f"cannot reach broker {self.settings.brokers}: {exc}") from exc
        except KafkaError as exc:
            raise PublishError(f"cannot reach broker {self.settings.brokers}: {exc!r}") from exc

    def _auth_error(self, exc: BaseException) -> BrokerAuthError:
        return BrokerAuthError(
            f"broker {self.settings.brokers} refused SASL {self.settings.sasl_mechanism} login "
            f"for user '{self.settings.sasl_username}' (check REDPANDA_SASL_USERNAME/REDPANDA_SASL_PASSWORD): {exc}"
        )

    # Publishing -----------------------------------------------------------------------------------
    def publish(self, event: ArgusEvent, topic: str | None = None) -> Any:
        """Publish one event and wait for the broker's acknowledgement (RecordMetadata)."""
        return self.publish_many([event], topic=topic)[0]

    def publish_many(self, events: Iterable[ArgusEvent], topic: str | None = None) -> list[Any]:
        """Publish events pipelined (up to 5 requests in flight) and wait for every acknowledgement.

        Order is kept per partition key. Raises on the first event that could not be published.
        """
        self.breaker.before_call()
        try:
            pending = [self._send(event, topic) for event in events]
            return [self._await(event_topic, started, future) for event_topic, started, future in pending]
        except PublishError:
            raise  # the breaker has heard of it
        except Exception as exc:
            # Whatever else the client raised (a connection or metadata error past `send`, a failed reconnect)
            # is a failure too: a call the breaker never hears of would leave it waiting on a probe.
            self._failed(topic or "unknown", exc)
            raise PublishError(f"publish failed: {exc!r}") from exc

    def flush(self, timeout_s: float | None = None) -> None:
        if self._producer is not None:
            self._producer.flush(timeout=timeout_s)

    def _send(self, event: ArgusEvent, topic: str | None) -> tuple[str, float, Any]:
        event_topic = topic or event.topic(self.settings.topic_prefix)
        try:
            producer = self.start()._producer
        except PublishError as exc:  # no producer: the broker is away or refused our login
            self._failed(event_topic, exc)
            raise
        headers = [
            ("correlation_id", event.correlation_id.encode()),
            ("tenant_id", event.tenant_id.encode()),
            ("source", event.source.encode()),
        ]
        delay = self.timeouts.backoff_initial_s
        for attempt in range(1, self.timeouts.send_attempts + 1):
            started = time.perf_counter()
            try:
                future = producer.send(
                    event_topic, key=event.partition_key(), value=event.to_bytes(), headers=headers
                )
                return event_topic, started, future
            except TopicAuthorizationFailedError as exc:
                raise self._refused(event_topic, exc) from exc
            except KafkaTimeoutError as exc:
                # Not enqueued (no metadata yet): safe to retry without risking a duplicate.
                if attempt == self.timeouts.send_attempts:
                    self._failed(event_topic, exc)
                    raise PublishError(f"no metadata for {event_topic} after {attempt} attempts: {exc}") from exc
                time.sleep(delay)
                delay = min(delay * 2, self.timeouts.backoff_max_s)
        raise AssertionError("unreachable")

    def _await(self, topic: str, started: float, future: Any) -> Any:
        try:
            metadata = future.get(timeout=self.timeouts.delivery_ms / 1000 + 1)
        except SaslAuthenticationFailedError as exc:
            self._failed(topic, exc)
            raise BrokerAuthError(f"broker refused our credentials: {exc}") from exc
        except TopicAuthorizationFailedError as exc:
            raise self._refused(topic, exc) from exc
        except (KafkaError, TimeoutError) as exc:
            self._failed(topic, exc)
            raise PublishError(f"publish to {topic} failed: {exc!r}") from exc
        self.metrics.latency.observe(time.perf_counter() - started)
        self.metrics.published.labels(topic).inc()
        self.breaker.record_success()
        return metadata

    def _refused(self, topic: str, error: BaseException) -> PublishRefused:
        """The broker answered, so the breaker hears of a success: a principal that may not write a topic is no
        reason to stop publishing what it may."""
        self.metrics.failed.labels(topic, type(error).__name__).inc()
        self.breaker.record_success()
        return PublishRefused(f"the broker refuses user '{self.settings.sasl_username}' writing {topic} "
                              f"(TopicAuthorizationFailed: its ACLs do not grant it)")

    def _failed(self, topic: str, error: BaseException) -> None:
        self.metrics.failed.labels(topic, type(error).__name__).inc()
        self.breaker.record_failure(error)
        log.warning("publish to %s failed: %r (breaker %s)", topic, error, self.breaker.state.value)

    def _breaker_changed(self, state: BreakerState) -> None:
        self.metrics.breaker_open.set(0 if state is BreakerState.CLOSED else 1)
        log.warning("event gateway circuit is now %s", state.value)


def _accepts_tcp(server: str) -> bool:
    host, _, port = server.strip().rpartition(":")
    return port.isdigit() and port_open(host or "127.0.0.1", int(port), timeout=1.0)


__all__ = ["EventGateway", "GatewayMetrics", "GatewayTimeouts", "CircuitOpenError"]
