-- Healing success rate and time to heal: of the healing requests answered in each hour, per tenant, how
-- many were healed, and how long did the healer take? healing.requested joins healing.completed on
-- correlation_id (answers within 1 hour); cache hits answer without a request, so they are not here.
-- key: window_start, tenant_id
CREATE TEMPORARY VIEW heals AS
SELECT
  req.tenant_id,
  done.payload.status AS status,
  -- Milliseconds between the two events (TIMESTAMPDIFF truncates to seconds).
  (EXTRACT(EPOCH FROM done.event_time) - EXTRACT(EPOCH FROM req.event_time)) * 1000
    + MOD(EXTRACT(MILLISECOND FROM done.event_time), 1000) - MOD(EXTRACT(MILLISECOND FROM req.event_time), 1000)
    AS time_to_heal_ms,
  done.event_time AS completed_time
FROM healing_requested AS req
JOIN healing_completed AS done
  ON req.correlation_id = done.correlation_id
 AND req.tenant_id = done.tenant_id
 AND done.event_time BETWEEN req.event_time AND req.event_time + INTERVAL '1' HOUR;

SELECT
  window_start,
  window_end,
  tenant_id,
  COUNT(*) AS answered,
  COUNT(*) FILTER (WHERE status = 'healed') AS healed,
  COUNT(*) FILTER (WHERE status = 'unhealable') AS unhealable,
  ROUND(CAST(COUNT(*) FILTER (WHERE status = 'healed') AS DOUBLE) / COUNT(*), 4) AS success_rate,
  CAST(AVG(time_to_heal_ms) FILTER (WHERE status = 'healed') AS BIGINT) AS avg_heal_ms,
  MAX(time_to_heal_ms) FILTER (WHERE status = 'healed') AS max_heal_ms
FROM TABLE(TUMBLE(TABLE heals, DESCRIPTOR(completed_time), INTERVAL '1' HOUR))
GROUP BY window_start, window_end, tenant_id
