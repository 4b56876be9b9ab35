"""The DLQ pipeline: dead letters -> republish with backoff, or the review store and an alert.

    triage.py     a dead letter's fate: retry with backoff, or review (no Flink; the letters' format is
                  argus_streams/contract/dead_letters.py)
    review.py     the manual-review store (PostgreSQL); alerts.py the signed webhook
    job.py        the Flink job: operators, `build_pipeline`, `main`

Pickled before this was a package as `argus_streams.dlq.<name>`, the names below stay here (see _legacy.py).
"""

from argus_streams.contract.dead_letters import SourceRecord
from argus_streams.dlq.triage import Retry, Review

__all__ = ["Retry", "Review", "SourceRecord"]
