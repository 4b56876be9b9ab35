"""The pieces every local service shares: its state folder, its ports, its process and its health check."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from argus_streams.errors import ConfigurationError, ServiceStartError
from argus_streams.home import DEFAULT_STATE_DIR, REPO_ROOT, STACK_DIR_VAR, port_open  # noqa: F401 - re-exported

# Open files the servers may hold. The broker keeps one open per partition (its active segment; measured), and
# the test suite makes thousands of partitions (45 per test prefix): under the common soft limit of 1024 the
# broker would run out late in the suite. Kafka's own guide asks for 100,000+.
OPEN_FILES = 65_536


def raise_open_files_limit(wanted: int = OPEN_FILES) -> int:
    """Raise this process's soft limit on open files (the servers it starts inherit it) towards `wanted`: to the
    hard limit, and past it when allowed (root). Returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, wanted))
            return wanted
        except (ValueError, OSError):
            pass  # not allowed: the hard limit is as far as it goes
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        return target
    return soft

DEFAULT_HEALTH_TIMEOUT_S = 120.0
# A second stack beside the default one (another checkout, the test suite's): its port offset.
PORT_OFFSET_VAR = "ARGUS_STACK_PORT_OFFSET"


@dataclass(frozen=True)
class Ports:
    """Every port the local stack listens on, all on 127.0.0.1."""

    kafka: int = 9092
    kafka_controller: int = 9093
    flink_rest: int = 8081
    flink_rpc: int = 6123
    falkordb: int = 6379
    neo4j_bolt: int = 7687
    neo4j_http: int = 7474
    postgres: int = 5432
    # Prometheus endpoints of the Flink JobManager and TaskManager (and of a replacement TaskManager).
    flink_metrics: int = 9249

    def shifted(self, offset: int) -> Ports:
        """The same layout moved by `offset` (the test stack runs beside a user's stack)."""
        return replace(self, **{name: port + offset for name, port in vars(self).items()})


@dataclass(frozen=True)
class StackLayout:
    """Where one stack keeps its data, logs and pid files, and which ports it uses."""

    state_dir: Path = DEFAULT_STATE_DIR
    ports: Ports = field(default_factory=Ports)
    host: str = "127.0.0.1"

    def __post_init__(self) -> None:
        # Servers run with their data folder as working directory: a relative path would point elsewhere.
        object.__setattr__(self, "state_dir", Path(self.state_dir).absolute())

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def run_dir(self) -> Path:
        return self.state_dir / "run"

    @property
    def secrets_file(self) -> Path:
        """Generated credentials of this local stack (never committed, mode 0600)."""
        return self.state_dir / "stack.env"

    def data_dir(self, service: str) -> Path:
        return self.state_dir / "data" / service

    @classmethod
    def from_env(cls) -> StackLayout:
        """The stack the CLI acts on: `ARGUS_STACK_DIR` (default .state/stack) with every port moved by
        `ARGUS_STACK_PORT_OFFSET` (default 0)."""
        raw_offset = os.environ.get(PORT_OFFSET_VAR, "0").strip() or "0"
        try:
            offset = int(raw_offset)
        except ValueError:
            raise ConfigurationError(f"{PORT_OFFSET_VAR}={raw_offset!r} is not a whole number") from None
        state_dir = Path(os.environ.get(STACK_DIR_VAR) or DEFAULT_STATE_DIR)
        return cls(state_dir=state_dir, ports=Ports().shifted(offset))

    def ensure_dirs(self) -> None:
        for folder in (self.logs_dir, self.run_dir, self.state_dir / "data"):
            folder.mkdir(parents=True, exist_ok=True)


def listening_pids(port: int) -> list[int]:
    """Pids with a socket listening on `port` (IPv4 or IPv6), from /proc: empty when none is visible (a
    process of another user hides its file descriptors)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:  # LISTEN
                inodes.add(f"socket:[{fields[9]}]")
    pids: list[int] = []
    if not inodes:
        return pids
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if any(os.readlink(fd) in inodes for fd in (proc / "fd").iterdir()):
                pids.append(int(proc.name))
        except OSError:
            continue
    return sorted(pids)


def command_of(pid: int, limit: int = 100) -> str:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "?"
    text = " ".join(arg.decode(errors="replace") for arg in argv if arg)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read (0600 before any secret is in it)."""
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(text)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0): read its state to be sure it really runs.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class Service(ABC):
    """One local server: started as a child process in its own session, found again by its pid file.

    Subclasses give the command line (`command`), the one-time preparation (`prepare`), the ports
    they listen on (`ports`) and a protocol-level health check (`healthy`).
    """

    name: str = "service"
    stop_signal: signal.Signals = signal.SIGTERM
    health_timeout_s: float = DEFAULT_HEALTH_TIMEOUT_S  # how long a start may take before it is an error

    def __init__(self, layout: StackLayout, secrets: dict[str, str]):
        self.layout = layout
        self.secrets = secrets

    # What subclasses provide -------------------------------------------------------------------
    @abstractmethod
    def ports(self) -> Sequence[int]:
        """Ports this service binds; each must be free before it starts."""

    @abstractmethod
    def command(self) -> list[str]:
        """The command line of the server process."""

    @abstractmethod
    def healthy(self) -> bool:
        """True when the server answers its own protocol (not just an open port)."""

    @abstractmethod
    def endpoint(self) -> str:
        """Where clients reach it, for people (`127.0.0.1:9092 (SASL_PLAINTEXT/SCRAM-SHA-512)`)."""

    def prepare(self) -> None:
        """One-time set-up of the data folder (format storage, write config); idempotent."""

    def environment(self) -> dict[str, str]:
        return dict(os.environ)

    def after_healthy(self) -> None:
        """Work that needs the server up (users, topics, indexes); idempotent."""

    def failure_log(self) -> Path:
        """The log that says why a start failed (a server whose daemons log elsewhere names that file)."""
        return self.log_path

    # Shared behaviour ----------------------------------------------------------------------------
    @property
    def log_path(self) -> Path:
        return self.layout.logs_dir / f"{self.name}.log"

    @property
    def pid_path(self) -> Path:
        return self.layout.run_dir / f"{self.name}.pid"

    @property
    def data_dir(self) -> Path:
        return self.layout.data_dir(self.name)

    def pid(self) -> int | None:
        try:
            pid = int(self.pid_path.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if pid_alive(pid) else None

    def is_running(self) -> bool:
        return self.pid() is not None

    def is_own_process(self, pid: int) -> bool:
        """A process of this stack: it runs in, or its command line or environment names, the stack's state
        folder (servers run in their data folder; their configs and FLINK_CONF_DIR live there; redis rewrites
        its command line)."""
        marker = str(self.layout.state_dir)
        try:
            if (os.readlink(f"/proc/{pid}/cwd") + "/").startswith(marker + "/"):
                return True
            return marker.encode() in Path(f"/proc/{pid}/cmdline").read_bytes() or \
                marker.encode() in Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            return False

    def check_ports(self) -> list[int]:
        """Raise a one-line error naming the holder (pid and command) when a port of this (stopped) service is
        taken by another process. Returns the pids of this stack's own processes that hold its ports (a server
        whose pid file was lost, a daemon being restarted): those are not a conflict."""
        own: set[int] = set()
        for port in self.ports():
            if not port_open(self.layout.host, port):
                continue
            holders = listening_pids(port)
            if holders and all(self.is_own_process(pid) for pid in holders):
                own.update(holders)
                continue
            who = ", ".join(f"pid {pid} ({command_of(pid)})" for pid in holders) or "another process"
            raise ServiceStartError(
                f"{self.name}: port {self.layout.host}:{port} is already taken by {who} (log: {self.log_path})"
            )
        return sorted(own)

    def start(self) -> None:
        """Start the process unless it already runs; does not wait for health."""
        if self.is_running():
            return
        self.layout.ensure_dirs()
        own = self.check_ports()
        if own:  # this stack's own server, whose pid file is gone: adopt it rather than start a second one
            self.pid_path.write_text(str(own[0]))
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.prepare()
        with open(self.log_path, "ab") as log:
            proc = subprocess.Popen(
                self.command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.data_dir,
                env=self.environment(),
                start_new_session=True,
            )
        self.pid_path.write_text(str(proc.pid))

    def wait_healthy(self, timeout: float | None = None) -> None:
        timeout = self.health_timeout_s if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.healthy():
                return
            if not self.is_running():
                raise ServiceStartError(f"{self.name}: the server exited during start-up (log: {self.failure_log()})")
            time.sleep(0.3)
        raise ServiceStartError(f"{self.name}: not healthy after {timeout:.0f}s (log: {self.failure_log()})")

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop the process this stack started (never anything else); True if one was stopped."""
        pid = self.pid()
        if pid is None:
            self.pid_path.unlink(missing_ok=True)
            return False
        _signal_group(pid, self.stop_signal)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and pid_alive(pid):
            time.sleep(0.2)
        if pid_alive(pid):
            _signal_group(pid, signal.SIGKILL)
        self.pid_path.unlink(missing_ok=True)
        return True


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass
    except PermissionError:
        os.kill(pid, sig)


def private_java_args(command: list[str], argfile: Path) -> list[str]:
    """`command` (a java_command) as `java @argfile`: everything after `java` goes into `argfile` (mode 0600
    from creation), so secrets among the arguments never show in `ps`. The class path's `dir/*` entries are
    listed jar by jar (the launcher does not expand wildcards read from a file). Delete the file after."""
    args = list(command[1:])
    if "-cp" in args:
        at = args.index("-cp") + 1
        args[at] = ":".join(str(jar) for entry in args[at].split(":")
                            for jar in (sorted(Path(entry[:-2]).glob("*.jar")) if entry.endswith("/*") else [entry]))
    quoted = ('"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"' for arg in args)
    write_private(argfile, "\n".join(quoted) + "\n")
    return [command[0], f"@{argfile}"]


def java_command(
    classpath_dirs: Sequence[Path],
    main_class: str,
    *args: str,
    heap: str = "512m",
    jvm_args: Sequence[str] = (),
) -> list[str]:
    """`java` with every jar of the given folders on the class path; `jvm_args` (`-D...`) go before it."""
    java_home = os.environ.get("JAVA_HOME")
    java = str(Path(java_home) / "bin" / "java") if java_home else "java"
    for folder in classpath_dirs:
        if not folder.is_dir() or not any(folder.glob("*.jar")):
            raise ServiceStartError(f"missing jars in {folder}: run `make jars` (mvn package) first")
    classpath = ":".join(f"{folder}/*" for folder in classpath_dirs)
    return [java, f"-Xmx{heap}", f"-Xms{heap}", *jvm_args, "-cp", classpath, main_class, *args]
