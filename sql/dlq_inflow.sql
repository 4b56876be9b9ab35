-- DLQ inflow: how many records went to the dead-letter queue in each hour, from which topic and why?
-- Per original topic and error type (dlq.py's payload): letters, tenants affected, and first retries
-- versus re-failures of replayed records (metadata.retry_count > 1).
-- key: window_start, original_topic, error_type
SELECT
  window_start,
  window_end,
  payload.original_topic AS original_topic,
  payload.error_type AS error_type,
  COUNT(*) AS letters,
  COUNT(DISTINCT tenant_id) AS tenants,
  COUNT(*) FILTER (WHERE CAST(`metadata`['retry_count'] AS INT) > 1) AS refailed
FROM TABLE(TUMBLE(TABLE dlq, DESCRIPTOR(event_time), INTERVAL '1' HOUR))
GROUP BY window_start, window_end, payload.original_topic, payload.error_type
