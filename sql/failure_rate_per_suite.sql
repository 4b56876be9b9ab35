-- Failure rate per test suite per minute: of the test runs reported in each 1-minute window, how many
-- failed? A run is a test.executed event (passed, failed or skipped) or a test.failed event (failed),
-- counted once per event as the failure job counts them; skipped runs are not part of the rate.
-- key: window_start, tenant_id, test_suite_id
CREATE TEMPORARY VIEW test_outcomes AS
SELECT tenant_id, payload.test_suite_id AS test_suite_id, payload.status AS status, event_time
FROM test_executed
UNION ALL
SELECT tenant_id, payload.test_suite_id AS test_suite_id, 'failed' AS status, event_time
FROM test_failed;

SELECT
  window_start,
  window_end,
  tenant_id,
  test_suite_id,
  COUNT(*) FILTER (WHERE status = 'passed') AS passed,
  COUNT(*) FILTER (WHERE status = 'failed') AS failed,
  COUNT(*) FILTER (WHERE status = 'skipped') AS skipped,
  ROUND(CAST(COUNT(*) FILTER (WHERE status = 'failed') AS DOUBLE)
        / NULLIF(COUNT(*) FILTER (WHERE status IN ('passed', 'failed')), 0), 4) AS failure_rate
FROM TABLE(TUMBLE(TABLE test_outcomes, DESCRIPTOR(event_time), INTERVAL '1' MINUTE))
GROUP BY window_start, window_end, tenant_id, test_suite_id
