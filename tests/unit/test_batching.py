from __future__ import annotations

import asyncio

import pytest

from argus_streams.flink.batching import MicroBatcher


def test_concurrent_submits_share_batches_and_flushes_never_overlap() -> None:
    batches: list[list[int]] = []
    active = 0
    overlapped = False

    async def flush(items):  # noqa: ANN001, ANN202
        nonlocal active, overlapped
        active += 1
        overlapped |= active > 1
        await asyncio.sleep(0.01)
        batches.append(list(items))
        active -= 1

    async def main() -> None:
        batcher = MicroBatcher(flush, max_size=50, max_delay_s=0.005)
        await asyncio.gather(*(batcher.submit(i) for i in range(500)))

    asyncio.run(main())
    assert sorted(i for batch in batches for i in batch) == list(range(500))
    assert not overlapped
    assert len(batches) <= 12 and max(len(b) for b in batches) == 50


def test_a_failed_batch_fails_each_of_its_callers() -> None:
    async def flush(items):  # noqa: ANN001, ANN202
        if 3 in items:
            raise ValueError("bad row")

    async def main() -> list:
        batcher = MicroBatcher(flush, max_size=2, max_delay_s=0.001)
        return await asyncio.gather(*(batcher.submit(i) for i in range(6)), return_exceptions=True)

    results = asyncio.run(main())
    assert [type(r).__name__ if r else None for r in results] == [None, None, "ValueError", "ValueError", None, None]


@pytest.mark.parametrize("size", [1, 7])
def test_everything_is_flushed(size: int) -> None:
    seen: list[int] = []

    async def flush(items):  # noqa: ANN001, ANN202
        seen.extend(items)

    async def main() -> None:
        batcher = MicroBatcher(flush, max_size=size, max_delay_s=0.001)
        await asyncio.gather(*(batcher.submit(i) for i in range(20)))

    asyncio.run(main())
    assert sorted(seen) == list(range(20))
