-- Ingestion volume per tenant: how many events did each tenant send in each hour, on which topic?
-- Every topic counts (argus_events, the union of the 8 tables), the DLQ included (a letter's tenant is
-- the original record's, or `unknown`).
-- key: window_start, tenant_id, event_type
SELECT window_start, window_end, tenant_id, event_type, COUNT(*) AS events
FROM TABLE(TUMBLE(TABLE argus_events, DESCRIPTOR(event_time), INTERVAL '1' HOUR))
GROUP BY window_start, window_end, tenant_id, event_type
