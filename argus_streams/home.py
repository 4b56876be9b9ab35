"""Where the runtime finds what it does not import: the jobs' entry points (`jobs/`), `sql/`, `udfs/`, the
connector jars (`target/`), and the local stack's state folder (`.state/stack`, whose `stack.env` settings read).

`ARGUS_HOME` names that folder (an image sets it); by default it is the checkout this package runs from.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

REPO_ROOT = Path(os.environ.get("ARGUS_HOME") or Path(__file__).resolve().parents[1])
DEFAULT_STATE_DIR = REPO_ROOT / ".state" / "stack"
# A second stack beside the default one (another checkout, the test suite's): its folder.
STACK_DIR_VAR = "ARGUS_STACK_DIR"


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
