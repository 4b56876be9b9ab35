"""Alerts on dead letters that need a person: a signed JSON POST to a webhook, retried with backoff.

    sender = AlertSender.from_settings(settings)       # ARGUS_ALERT_WEBHOOK_URL / _SECRET
    alert_new_rows(store, sender, [row.id for row in rows])   # after ReviewStore.upsert_many(rows)

Signing: `X-Argus-Timestamp: <unix seconds>` and `X-Argus-Signature: sha256=<hex>`, the HMAC-SHA256 with
the shared secret of `b"<timestamp>." + body`. A receiver recomputes it with `verify()` and refuses stale
timestamps, so a captured request cannot be replayed later. Delivery is at-least-once (a crash between
the POST and `mark_alerted` sends again): receivers dedupe by `X-Argus-Alert-Id`, the review row's id.

Connection errors, timeouts, 5xx and 429 are retried with exponential backoff; any other 4xx is a
receiver that will not take this alert, so it is not retried. Every alert logs one line and counts one
`argus_dlq_alerts_total{outcome}` (sent, rejected, failed, disabled).
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import logging
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter

from argus_streams.dlq.review import FailedEvent, ReviewStore
from argus_streams.errors import ConfigurationError
from argus_streams.settings import Settings

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Argus-Signature"
TIMESTAMP_HEADER = "X-Argus-Timestamp"
ALERT_ID_HEADER = "X-Argus-Alert-Id"
DEFAULT_TOLERANCE_S = 300  # how old a signed timestamp a receiver accepts
MESSAGE_LIMIT = 500  # characters of the error message in an alert (the rest is in the review store)
SENT, REJECTED, FAILED, DISABLED = "sent", "rejected", "failed", "disabled"


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    initial_backoff_s: float = 0.5
    max_backoff_s: float = 8.0
    timeout_s: float = 5.0  # per request

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based): 0.5, 1, 2, 4, 8, 8..."""
        return float(min(self.initial_backoff_s * 2 ** (attempt - 1), self.max_backoff_s))


DEFAULT_RETRY = RetryPolicy()


class AlertMetrics:
    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = registry or CollectorRegistry()
        self.alerts = Counter("argus_dlq_alerts", "Dead-letter alerts by outcome", ["outcome"],
                              registry=self.registry)


@dataclass(frozen=True)
class AlertResult:
    outcome: str  # sent | rejected | failed | disabled
    attempts: int = 0
    status: int | None = None  # the last HTTP status
    error: str | None = None

    @property
    def delivered(self) -> bool:
        return self.outcome == SENT


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The X-Argus-Signature value for this body sent at this timestamp."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(secret: str, headers: Mapping[str, str], body: bytes, tolerance_s: float = DEFAULT_TOLERANCE_S,
           now: float | None = None) -> bool:
    """What a receiver checks: a signature of this body and timestamp, and a timestamp that is recent."""
    lowered = {k.lower(): v for k, v in headers.items()}
    timestamp, signature = lowered.get(TIMESTAMP_HEADER.lower(), ""), lowered.get(SIGNATURE_HEADER.lower(), "")
    if not timestamp.isdigit() or abs((now if now is not None else time.time()) - int(timestamp)) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


def dlq_alert(row: FailedEvent) -> dict[str, Any]:
    """The alert for a review row: where it came from and why, never the record's value."""
    return {
        "alert": "argus.dlq.review_needed",
        "id": row.id,
        "tenant_id": row.tenant_id,
        "source": row.source,
        "original_topic": row.original_topic,
        "original_partition": row.original_partition,
        "original_offset": row.original_offset,
        "event_id": row.event_id,
        "error_type": row.error_type,
        "error_message": row.error_message[:MESSAGE_LIMIT],
        "retry_count": row.retry_count,
        "max_retries": row.max_retries,
        "first_failed_at": row.first_failed_at.isoformat(),
        "last_failed_at": row.last_failed_at.isoformat(),
        "review": f"argus-streams dlq show {row.id}",
    }


class AlertSender:
    """POSTs alerts to one webhook. Without a URL it only logs and counts (outcome `disabled`)."""

    def __init__(self, url: str, secret: str, *, retry: RetryPolicy = DEFAULT_RETRY,
                 metrics: AlertMetrics | None = None, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.time):
        if url and not secret:
            raise ConfigurationError("ARGUS_ALERT_WEBHOOK_URL is set but ARGUS_ALERT_WEBHOOK_SECRET is empty: "
                                     "alerts are never sent unsigned")
        if url and urllib.parse.urlsplit(url).scheme not in ("http", "https"):
            raise ConfigurationError(f"ARGUS_ALERT_WEBHOOK_URL must be an http(s) URL, got {url!r}")
        self.url = url
        self._secret = secret
        self.retry = retry
        self.metrics = metrics or AlertMetrics()
        self._sleep = sleep
        self._clock = clock

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> AlertSender:
        return cls(settings.alert_webhook_url, settings.alert_webhook_secret.get_secret_value(), **kwargs)

    def send(self, alert: Mapping[str, Any]) -> AlertResult:
        """Deliver one alert (retrying what a retry can fix); never raises for delivery problems."""
        alert_id = str(alert.get("id", ""))
        result = self._deliver(alert_id, json.dumps(alert, sort_keys=True).encode()) if self.url \
            else AlertResult(DISABLED)
        self.metrics.alerts.labels(result.outcome).inc()
        level = logging.INFO if result.outcome == SENT else logging.WARNING
        log.log(level, "dlq alert %s tenant=%s topic=%s error=%s: %s after %d attempt(s)%s%s", alert_id,
                alert.get("tenant_id"), alert.get("original_topic"), alert.get("error_type"), result.outcome,
                result.attempts, f" (HTTP {result.status})" if result.status else "",
                f": {result.error}" if result.error else "")
        return result

    def _deliver(self, alert_id: str, body: bytes) -> AlertResult:
        status: int | None = None
        error: str | None = None
        for attempt in range(1, self.retry.attempts + 1):
            status, error = self._post(alert_id, body)
            if status is not None and 200 <= status < 300:
                return AlertResult(SENT, attempt, status)
            if status is not None and 400 <= status < 500 and status != 429:
                return AlertResult(REJECTED, attempt, status, error)
            if attempt < self.retry.attempts:
                self._sleep(self.retry.backoff(attempt))
        return AlertResult(FAILED, self.retry.attempts, status, error)

    def _post(self, alert_id: str, body: bytes) -> tuple[int | None, str | None]:
        """One signed POST: (HTTP status or None when there was no answer, error text)."""
        timestamp = str(int(self._clock()))  # signed per attempt, so a late retry is not stale
        request = urllib.request.Request(self.url, data=body, method="POST", headers={
            "Content-Type": "application/json",
            "User-Agent": "argus-streams-alerts",
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(self._secret, timestamp, body),
            ALERT_ID_HEADER: alert_id,
        })
        try:
            with urllib.request.urlopen(request, timeout=self.retry.timeout_s) as response:  # noqa: S310 - configured URL
                return response.status, None
        except urllib.error.HTTPError as exc:
            return exc.code, f"HTTP {exc.code} {exc.reason}"
        except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
            return None, repr(getattr(exc, "reason", exc))


def alert_new_rows(store: ReviewStore, sender: AlertSender, ids: Sequence[str]) -> list[AlertResult]:
    """Alert every row among `ids` not alerted yet, and mark those delivered (or with alerts disabled).

    Pass every id of the batch just upserted, not only the inserted ones: a crash between the insert and
    the alert is then healed when the same dead letters are delivered again.
    """
    results = []
    for row in store.unalerted(ids):
        result = sender.send(dlq_alert(row))
        if result.outcome in (SENT, DISABLED):
            store.mark_alerted([row.id])
        results.append(result)
    return results
