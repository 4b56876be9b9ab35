"""Fixtures: the suite starts its own stack (ports +10000, its own state folder) and stops it at the end.

It never touches a user's stack or data. Each test gets its own topic prefix, consumer groups and graph
names, so tests never see each other's data. A service that cannot start fails the run; nothing skips.
"""

from __future__ import annotations

import os
import shutil
import uuid

import pytest
from argus_dev.stack.base import PORT_OFFSET_VAR, REPO_ROOT, STACK_DIR_VAR, Ports, StackLayout

from argus_streams.bus.principals import ADMIN

pytest_plugins = ["tests.diagnostics"]  # what the stack knew when a test failed, printed at once

TEST_PORT_OFFSET = int(os.environ.get("ARGUS_TEST_PORT_OFFSET", "10000"))
# Another offset (ARGUS_TEST_PORT_OFFSET) is another stack with a state folder of its own.
TEST_STATE_DIR = REPO_ROOT / ".state" / (
    "test-stack" if TEST_PORT_OFFSET == 10000 else f"test-stack-{TEST_PORT_OFFSET}"
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/integration/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)
    # Fault tests stop and start the servers: they run after everything else (the sort is stable), and the
    # test of `down`, which stops the whole stack, after them.
    items.sort(key=lambda item: (item.get_closest_marker("stops_stack") is not None,
                                 item.get_closest_marker("faults") is not None))


@pytest.fixture(scope="session")
def stack():  # noqa: ANN201 - Stack is imported lazily so unit tests never import the servers' clients
    from argus_dev.stack.manager import Stack

    layout = StackLayout(state_dir=TEST_STATE_DIR, ports=Ports().shifted(TEST_PORT_OFFSET))
    probe = Stack(layout)
    if not any(service.is_running() for service in probe.services):
        shutil.rmtree(TEST_STATE_DIR, ignore_errors=True)  # a fresh test stack each run
    test_stack = Stack(layout)
    try:
        test_stack.up(report=lambda line: print(f"[test stack] {line}"))
        yield test_stack
    finally:
        if os.environ.get("ARGUS_TEST_KEEP_STACK") != "1":
            test_stack.down(report=lambda line: print(f"[test stack] {line}"))


def unique_name() -> str:
    """A topic prefix and graph name no other test uses."""
    return f"it-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def prefix(stack) -> str:  # noqa: ANN001
    """A topic prefix of this test's own, with the 8 catalog topics created under it."""
    from argus_streams.bus.admin import ensure_topics

    name = unique_name()
    ensure_topics(stack.settings(ADMIN).model_copy(update={"topic_prefix": name}))
    return name


@pytest.fixture
def store_settings(stack):  # noqa: ANN001, ANN201
    """The test stack's settings with a name of this test's own as topic prefix and graph, and no topics: for
    tests of the stores alone (each test's 8 topics add ~40 partitions the single broker carries to the end)."""
    name = unique_name()
    return stack.settings(ADMIN).model_copy(update={"topic_prefix": name, "falkordb_graph": name})


@pytest.fixture
def settings(stack, prefix: str):  # noqa: ANN001, ANN201
    """The test stack's settings with this test's topic prefix and graph name."""
    return stack.settings(ADMIN).model_copy(update={"topic_prefix": prefix, "falkordb_graph": prefix})


def cli_env(stack, **extra: str) -> dict[str, str]:  # noqa: ANN001
    """The environment to run `argus-streams` (or a script that runs it) against the test stack as a user runs
    it against theirs: ARGUS_STACK_DIR and ARGUS_STACK_PORT_OFFSET name the stack, whose settings file then
    holds the settings (ARGUS_STACK_ENV and ARGUS_TOPIC_PREFIX are dropped unless `extra` sets them)."""
    env = {**os.environ, STACK_DIR_VAR: str(stack.layout.state_dir),
           PORT_OFFSET_VAR: str(stack.layout.ports.kafka - Ports().kafka)}
    for name in ("ARGUS_STACK_ENV", "ARGUS_TOPIC_PREFIX"):
        env.pop(name, None)
    return {**env, **extra}
