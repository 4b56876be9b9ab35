-- Flaky tests: which tests both passed and failed on the same build, and how often did the outcome flip?
-- The code did not change within a build, so a flip is flakiness (the failure job's flakiness score counts
-- these builds). Per tenant, suite, test and build (build_id, else commit_sha): passes, failures, and
-- flips (outcome changes in event-time order). Skipped runs are left out.
-- key: tenant_id, test_suite_id, test_id, build
CREATE TEMPORARY VIEW build_outcomes AS
SELECT tenant_id, payload.test_suite_id AS test_suite_id, payload.test_id AS test_id,
       COALESCE(NULLIF(payload.build_id, ''), payload.commit_sha) AS build, payload.status AS status, event_time
FROM test_executed
WHERE payload.status IN ('passed', 'failed')
UNION ALL
SELECT tenant_id, payload.test_suite_id, payload.test_id,
       COALESCE(NULLIF(payload.build_id, ''), payload.commit_sha), 'failed', event_time
FROM test_failed;

SELECT tenant_id, test_suite_id, test_id, build,
       COUNT(*) FILTER (WHERE status = 'passed') AS passes,
       COUNT(*) FILTER (WHERE status = 'failed') AS failures,
       SUM(flipped) AS flips
FROM (
  SELECT tenant_id, test_suite_id, test_id, build, status,
         CASE WHEN status <> LAG(status) OVER (PARTITION BY tenant_id, test_suite_id, test_id, build
                                               ORDER BY event_time) THEN 1 ELSE 0 END AS flipped
  FROM build_outcomes
)
GROUP BY tenant_id, test_suite_id, test_id, build
HAVING COUNT(*) FILTER (WHERE status = 'passed') > 0 AND COUNT(*) FILTER (WHERE status = 'failed') > 0
