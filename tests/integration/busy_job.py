"""A job whose Python workers are stuck in a catastrophic regex, as the hostile records of issue 14 left
them: `re` holds the GIL for the whole match, so no thread of the worker notices that its TaskManager is
gone (test_stack_down.py checks that `down` still stops them)."""

from __future__ import annotations

import re

from pyflink.datastream import StreamExecutionEnvironment


def bomb(value: int) -> int:
    re.match(r"(a+)+$", "a" * 64 + "!")  # exponential backtracking: centuries at this length
    return value


def main() -> None:
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(2)
    env.from_collection([1, 2]).map(bomb).print()
    env.execute("argus-test-busy-workers")


if __name__ == "__main__":
    main()
