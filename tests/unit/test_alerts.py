"""The dead-letter alert webhook against a real HTTP server on 127.0.0.1 (no stack)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from argus_streams.dlq.alerts import (
    ALERT_ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    AlertMetrics,
    AlertSender,
    RetryPolicy,
    dlq_alert,
    sign,
    verify,
)
from argus_streams.dlq.review import FailedEvent
from argus_streams.errors import ConfigurationError
from argus_streams.settings import Settings

SECRET = "test-secret-not-real"
FAST = RetryPolicy(attempts=4, initial_backoff_s=0.01, max_backoff_s=0.04, timeout_s=2.0)


class Receiver:
    """A webhook that answers `fail_with` for the first `failures` requests, then 204; keeps what it got."""

    def __init__(self, failures: int = 0, fail_with: int = 503):
        self.failures, self.fail_with = failures, fail_with
        self.requests: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers.items()), body))
                failing = len(receiver.requests) <= receiver.failures
                self.send_response(receiver.fail_with if failing else 204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/dlq"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver(request: pytest.FixtureRequest) -> Iterator[Receiver]:
    server = Receiver(*getattr(request, "param", ()))
    yield server
    server.server.shutdown()
    server.server.server_close()


def row() -> FailedEvent:
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    return FailedEvent(
        id="5a7a4b4e-0c1f-4b7e-9d55-3f1f0b6c9a10", dead_letter_id="5a7a4b4e-0c1f-4b7e-9d55-3f1f0b6c9a10",
        event_id=None, tenant_id="acme", source="argus-flink-failures", original_topic="argus.test.failed",
        original_partition=2, original_offset=41, original_key="suite-1", original_value=b"secret payload",
        original_headers={}, error_type="EventValidationError", error_message="$: not valid JSON " * 100,
        error_traceback="Traceback ...", retry_count=1, max_retries=3, first_failed_at=at, last_failed_at=at)


def sender(url: str, sleeps: list[float] | None = None) -> AlertSender:
    record = sleeps.append if sleeps is not None else (lambda _s: None)
    return AlertSender(url, SECRET, retry=FAST, metrics=AlertMetrics(), sleep=record)


def count(alerts: AlertSender, outcome: str) -> float:
    return alerts.metrics.registry.get_sample_value("argus_dlq_alerts_total", {"outcome": outcome}) or 0.0


def test_receiver_can_verify_the_signature_and_refuses_tampering_and_stale_requests(receiver: Receiver) -> None:
    alerts = sender(receiver.url)
    result = alerts.send(dlq_alert(row()))
    assert result.delivered and result.attempts == 1 and result.status == 204
    (headers, body), = receiver.requests
    assert verify(SECRET, headers, body)
    assert headers[SIGNATURE_HEADER].startswith("sha256=") and headers[ALERT_ID_HEADER] == row().id
    assert headers["Content-Type"] == "application/json"
    sent = json.loads(body)
    assert sent["tenant_id"] == "acme" and sent["original_offset"] == 41 and len(sent["error_message"]) == 500
    assert b"secret payload" not in body  # the record's value stays in the review store
    assert not verify("another-secret", headers, body)
    assert not verify(SECRET, headers, body.replace(b"acme", b"evil"))
    stale = int(headers[TIMESTAMP_HEADER]) + 301
    assert not verify(SECRET, headers, body, now=stale)  # a captured request replayed 5 minutes later
    forged = {**headers, TIMESTAMP_HEADER: str(stale)}  # a fresh timestamp without a new signature
    assert not verify(SECRET, forged, body, now=stale)
    assert count(alerts, "sent") == 1


def test_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    import hashlib
    import hmac

    expected = hmac.new(b"k", b"1700000000.{}", hashlib.sha256).hexdigest()
    assert sign("k", "1700000000", b"{}") == f"sha256={expected}"


@pytest.mark.parametrize("receiver", [(3, 503)], indirect=True)
def test_5xx_is_retried_with_exponential_backoff_until_it_succeeds(receiver: Receiver) -> None:
    sleeps: list[float] = []
    alerts = sender(receiver.url, sleeps)
    result = alerts.send(dlq_alert(row()))
    assert result.delivered and result.attempts == 4
    assert sleeps == [0.01, 0.02, 0.04]
    assert len(receiver.requests) == 4
    assert all(verify(SECRET, headers, body) for headers, body in receiver.requests)
    assert {headers[ALERT_ID_HEADER] for headers, _ in receiver.requests} == {row().id}  # receivers dedupe by it
    assert count(alerts, "sent") == 1 and count(alerts, "failed") == 0


@pytest.mark.parametrize("receiver", [(10, 500)], indirect=True)
def test_gives_up_after_the_last_attempt(receiver: Receiver, caplog: pytest.LogCaptureFixture) -> None:
    alerts = sender(receiver.url)
    result = alerts.send(dlq_alert(row()))
    assert (result.outcome, result.attempts, result.status) == ("failed", 4, 500)
    assert len(receiver.requests) == 4 and count(alerts, "failed") == 1
    assert f"dlq alert {row().id} tenant=acme" in caplog.text and "failed after 4 attempt(s) (HTTP 500)" in caplog.text


@pytest.mark.parametrize("receiver", [(10, 400), (10, 401)], indirect=True)
def test_4xx_is_not_retried(receiver: Receiver) -> None:
    sleeps: list[float] = []
    alerts = sender(receiver.url, sleeps)
    result = alerts.send(dlq_alert(row()))
    assert result.outcome == "rejected" and result.attempts == 1 and result.status == receiver.fail_with
    assert len(receiver.requests) == 1 and sleeps == []
    assert count(alerts, "rejected") == 1


@pytest.mark.parametrize("receiver", [(2, 429)], indirect=True)
def test_429_too_many_requests_is_retried(receiver: Receiver) -> None:
    result = sender(receiver.url).send(dlq_alert(row()))
    assert result.delivered and result.attempts == 3


def test_connection_refused_is_retried_then_reported() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    sleeps: list[float] = []
    alerts = sender(f"http://127.0.0.1:{port}/", sleeps)
    result = alerts.send(dlq_alert(row()))
    assert result.outcome == "failed" and result.status is None and "refused" in (result.error or "").lower()
    assert sleeps == [0.01, 0.02, 0.04]


def test_without_a_url_alerts_are_logged_and_counted_only(caplog: pytest.LogCaptureFixture) -> None:
    alerts = AlertSender("", "", metrics=AlertMetrics())
    assert alerts.send(dlq_alert(row())).outcome == "disabled"
    assert count(alerts, "disabled") == 1 and "disabled after 0 attempt(s)" in caplog.text


def test_a_url_without_a_secret_or_not_http_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="ARGUS_ALERT_WEBHOOK_SECRET"):
        AlertSender("http://127.0.0.1:9/", "")
    with pytest.raises(ConfigurationError, match="http"):
        AlertSender("file:///etc/passwd", SECRET)


def test_settings_read_the_webhook_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARGUS_ALERT_WEBHOOK_URL", "https://alerts.example/dlq")
    monkeypatch.setenv("ARGUS_ALERT_WEBHOOK_SECRET", "s3cret-hmac")
    settings = Settings()
    assert AlertSender.from_settings(settings).url == "https://alerts.example/dlq"
    assert settings.masked()["ARGUS_ALERT_WEBHOOK_SECRET"] == "********"
    assert "s3cret-hmac" not in repr(settings)
