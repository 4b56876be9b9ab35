"""PyFlink's Cython operators and coders load in this venv (the workers run this interpreter). With a Beam
other than the one PyFlink 2.2.1 was compiled against they fail to import and PyFlink silently falls back
to its pure-Python path, several times slower (pyproject.toml pins Beam for that reason)."""

from __future__ import annotations

import importlib


def test_the_workers_use_the_cython_operators_and_coders() -> None:
    from pyflink.fn_execution import coders
    from pyflink.fn_execution.beam import beam_coders, beam_operations

    fast = ("pyflink.fn_execution.beam.beam_operations_fast", "pyflink.fn_execution.beam.beam_coder_impl_fast",
            "pyflink.fn_execution.coder_impl_fast")
    for name in fast:
        module = importlib.import_module(name)
        assert module.__file__.endswith(".so"), module.__file__  # compiled, not a .py fallback
    # ...and the modules the workers run picked them, not the slow ones they fall back to
    assert beam_operations.beam_operations.__name__ == "pyflink.fn_execution.beam.beam_operations_fast"
    assert beam_coders.beam_coder_impl.__name__ == "pyflink.fn_execution.beam.beam_coder_impl_fast"
    assert coders.coder_impl.__name__ == "pyflink.fn_execution.coder_impl_fast"
