-- Top failure signatures per hour: which root causes failed the most test runs in each hour, per tenant?
-- The signature is the failure job's (udfs/signature.py: exception type + masked message + innermost
-- frames + selector); the 5 most frequent per tenant and hour, with how many distinct tests they hit.
-- key: window_start, tenant_id, signature
CREATE TEMPORARY VIEW signed_failures AS
SELECT
  tenant_id,
  payload.test_id AS test_id,
  payload.failure_details.error_type AS error_type,
  -- Every argument is an expression, not a bare nested field: Flink 2.2.1's planner fails on nested
  -- field access as a Python UDF argument (IndexOutOfBoundsException in RemoteCalcSplitRule).
  failure_signature(COALESCE(payload.failure_details.error_type, ''), COALESCE(payload.failure_details.message, ''),
                    COALESCE(payload.failure_details.stack_trace, ''), COALESCE(payload.failure_details.selector, ''))
    AS signature,
  event_time
FROM test_failed;

SELECT window_start, window_end, tenant_id, signature_rank, signature, error_type, failures, tests
FROM (
  SELECT *, ROW_NUMBER() OVER (PARTITION BY window_start, window_end, tenant_id
                               ORDER BY failures DESC, signature) AS signature_rank
  FROM (
    SELECT window_start, window_end, tenant_id, signature, MAX(error_type) AS error_type,
           COUNT(*) AS failures, COUNT(DISTINCT test_id) AS tests
    FROM TABLE(TUMBLE(TABLE signed_failures, DESCRIPTOR(event_time), INTERVAL '1' HOUR))
    GROUP BY window_start, window_end, tenant_id, signature
  )
)
WHERE signature_rank <= 5
