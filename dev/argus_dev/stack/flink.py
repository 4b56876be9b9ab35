"""The local Flink standalone session cluster, run by the `apache-flink` wheel's own scripts.

`bin/start-cluster.sh` daemonises a JobManager and a TaskManager and records their pids in
`$FLINK_PID_DIR`; this service renders the repo's `flink-conf/` into the stack's state folder (ports,
folders and the venv's Python filled in), runs that script, and finds both JVMs again by those pid files.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from argus_dev.stack.base import REPO_ROOT, Service, StackLayout, pid_alive
from argus_streams.errors import ConfigurationError, ServiceStartError

CONF_SOURCE_DIR = REPO_ROOT / "flink-conf"
PLUGINS_DIR = REPO_ROOT / "target" / "flink-plugins"
# Names the pid and log files of this stack's daemons (`flink-argus-taskexecutor.pid`); the scripts
# default to $USER, which is empty in some shells.
IDENT = "argus"
DAEMONS = ("standalonesession", "taskexecutor")
DAEMON_NAMES = {"standalonesession": "JobManager", "taskexecutor": "TaskManager"}
WATCHDOG_GRACE_S = 90.0  # a TaskManager the watchdog restarts takes ~10-20 s; `up` waits for it this long
WATCHDOG = Path(__file__).with_name("flink_watchdog.sh")
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def python_workers(conf: Path, orphans_only: bool = False) -> list[int]:
    """PyFlink's Python worker processes of the cluster whose config folder is `conf` (found by the
    FLINK_CONF_DIR they inherit); with `orphans_only`, those whose TaskManager is gone (parent pid 1)."""
    marker, found = f"FLINK_CONF_DIR={conf}".encode(), []
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes() if proc.name.isdigit() else b""
            if b"beam_boot" not in cmdline and b"pyflink-udf-runner" not in cmdline:
                continue
            ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            if (ppid == 1 or not orphans_only) and marker in (proc / "environ").read_bytes().split(b"\0"):
                found.append(int(proc.name))
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile
    return found


def process_start_ms(pid: int) -> int:
    """When process `pid` started, in milliseconds since the epoch (from /proc; 10 ms steps)."""
    ticks = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])  # field 22, starttime
    booted = time.time() - float(Path("/proc/uptime").read_text().split()[0])  # /proc/stat's btime is whole seconds
    return int(booted * 1000) + ticks * 1000 // os.sysconf("SC_CLK_TCK")


def kill_python_workers(conf: Path) -> list[int]:
    """SIGKILL every Python worker of that cluster (a busy one outlives its TaskManager); returns their pids."""
    pids = python_workers(conf)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return pids


def flink_home() -> Path:
    """The wheel's Flink distribution (bin/, lib/, opt/, conf/): the installed `pyflink` package."""
    import pyflink  # imported here: it is heavy and only this service needs it

    return Path(pyflink.__file__).parent


def venv_python() -> Path:
    """The interpreter running us: the venv's. Not resolved, since the symlink target has no venv packages."""
    return Path(sys.executable)


def conf_dir(layout: StackLayout) -> Path:
    """Absolute, since the scripts run with the data folder as working directory."""
    return layout.data_dir(FlinkService.name).absolute() / "conf"


def lib_dir(layout: StackLayout) -> Path:
    """The cluster's lib/ (FLINK_LIB_DIR): the wheel's lib/ plus its opt/flink-python jar, as links.

    PyFlink's thread mode embeds Python in the TaskManager through pemja, whose native library a JVM loads
    once: from a job's own class loader (flink-python in opt/, shipped with each job) a second job's load
    fails (`NoSuchFieldException: loadedLibraryNames` on Java 17). With the jar here and `pemja.` loaded
    parent-first (config.yaml), every job shares the TaskManager's one copy."""
    return layout.data_dir(FlinkService.name).absolute() / "lib"


def link_lib_dir(target: Path) -> None:
    """(Re)make `target` as lib_dir() describes."""
    home = flink_home()
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for jar in [*sorted((home / "lib").glob("*.jar")), *sorted((home / "opt").glob("flink-python*.jar"))]:
        (target / jar.name).symlink_to(jar)


def rest_url(layout: StackLayout) -> str:
    return f"http://{layout.host}:{layout.ports.flink_rest}"


def flink_env(layout: StackLayout) -> dict[str, str]:
    """Environment for the wheel's scripts (`bin/flink`, start/stop-cluster.sh) aimed at this stack."""
    env = dict(os.environ)
    env.pop("_FLINK_HOME_DETERMINED", None)
    env.update(
        FLINK_HOME=str(flink_home()),
        FLINK_CONF_DIR=str(conf_dir(layout)),
        FLINK_LIB_DIR=str(lib_dir(layout)),
        FLINK_LOG_DIR=str(layout.logs_dir.absolute() / "flink"),
        FLINK_PID_DIR=str(layout.run_dir.absolute()),
        FLINK_IDENT_STRING=IDENT,
        # Our plugins folder (Prometheus reporter bound to 127.0.0.1), built by `make jars`.
        FLINK_PLUGINS_DIR=str(PLUGINS_DIR),
        # Anything that still starts a bare `python` gets the venv's, not the system's.
        PATH=f"{venv_python().parent}{os.pathsep}{env.get('PATH', '')}",
    )
    return env


def derived_ports(layout: StackLayout) -> dict[str, int]:
    """The fixed ports the cluster binds, derived from the layout so shifted stacks never clash."""
    rpc = layout.ports.flink_rpc
    return {
        "rest.port": layout.ports.flink_rest,
        "jobmanager.rpc.port": rpc,
        "blob.server.port": rpc + 1,
        "taskmanager.rpc.port": rpc + 2,
        "taskmanager.data.port": rpc + 3,
    }


def metrics_port_range(layout: StackLayout) -> str:
    """Prometheus ports: the JobManager and the TaskManager each take the first free one of three."""
    first = layout.ports.flink_metrics
    return f"{first}-{first + 2}"


def render_config(source: str, overrides: dict[str, str | int]) -> str:
    """`source` (flat `key: value` lines) with the values of `overrides` replaced or appended.

    Line-based so the comments survive and no YAML library is needed; values are written as JSON
    strings/numbers, which YAML reads back unchanged.
    """
    pending = dict(overrides)
    lines = []
    for line in source.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            if line[0].isspace() or ":" not in stripped:
                raise ConfigurationError(f"{CONF_SOURCE_DIR / 'config.yaml'}: use flat keys only: {line!r}")
            key = stripped.split(":", 1)[0].strip()
            if key in pending:
                line = f"{key}: {json.dumps(pending.pop(key))}"
        lines.append(line)
    lines += [f"{key}: {json.dumps(value)}" for key, value in pending.items()]
    return "\n".join(lines) + "\n"


class FlinkService(Service):
    """JobManager + one TaskManager on 127.0.0.1, web UI/REST at `ports.flink_rest`."""

    name = "flink"

    # Paths ----------------------------------------------------------------------------------------
    @property
    def conf_dir(self) -> Path:
        return conf_dir(self.layout)

    def _pid_file(self, daemon: str) -> Path:
        return self.layout.run_dir / f"flink-{IDENT}-{daemon}.pid"

    # Service contract -----------------------------------------------------------------------------
    def ports(self) -> Sequence[int]:
        return list(derived_ports(self.layout).values())

    def command(self) -> list[str]:
        return ["bash", str(flink_home() / "bin" / "start-cluster.sh")]

    def environment(self) -> dict[str, str]:
        return flink_env(self.layout)

    def endpoint(self) -> str:
        return f"{rest_url(self.layout)} (web UI)"

    def prepare(self) -> None:
        """Write <data>/conf: the wheel's log4j/logback files, the repo's files, then the rendered config."""
        home_conf = flink_home() / "conf"
        self.conf_dir.mkdir(parents=True, exist_ok=True)
        (self.layout.logs_dir / "flink").mkdir(parents=True, exist_ok=True)  # start-cluster.sh needs it
        for source_dir in (home_conf, CONF_SOURCE_DIR):
            for file in source_dir.glob("*"):
                if file.is_file() and file.name != "config.yaml" and file.suffix != ".cfg":
                    shutil.copyfile(file, self.conf_dir / file.name)
        # Only local daemons: `localhost`/`127.0.0.1` here makes the scripts start them without ssh.
        (self.conf_dir / "masters").write_text(f"{self.layout.host}:{self.layout.ports.flink_rest}\n")
        (self.conf_dir / "workers").write_text(f"{self.layout.host}\n")
        link_lib_dir(lib_dir(self.layout))
        data = self.data_dir.absolute()  # file:// URIs need absolute paths
        for folder in ("checkpoints", "savepoints", "tmp"):
            (data / folder).mkdir(parents=True, exist_ok=True)
        python = str(venv_python())
        rpc = self.layout.ports.flink_rpc
        overrides: dict[str, str | int] = {
            **derived_ports(self.layout),
            # JM and TM each take one of the two (a range, as both read this file).
            "metrics.internal.query-service.port": f"{rpc + 4}-{rpc + 5}",
            "metrics.reporter.prom.host": self.layout.host,
            "metrics.reporter.prom.port": metrics_port_range(self.layout),
            "execution.checkpointing.dir": (data / "checkpoints").as_uri(),
            "execution.checkpointing.savepoint-dir": (data / "savepoints").as_uri(),
            "io.tmp.dirs": str(data / "tmp"),
            # The same folders as flink_env(), for a `bin/flink` run with only FLINK_CONF_DIR set.
            "env.log.dir": str(self.layout.logs_dir.absolute() / "flink"),
            "env.pid.dir": str(self.layout.run_dir.absolute()),
            "python.executable": python,
            "python.client.executable": python,
        }
        source = (CONF_SOURCE_DIR / "config.yaml").read_text()
        (self.conf_dir / "config.yaml").write_text(render_config(source, overrides))

    def healthy(self) -> bool:
        """The JobManager answers and a TaskManager that runs now is registered with slots.

        After a crash the JobManager lists the dead TaskManager until it notices (a missed heartbeat or the
        lost connection, seconds later): `up` once returned on that ghost while the watchdog's new JVM had
        not registered yet. A listed TaskManager whose last heartbeat is older than the start of our live
        TaskManager JVM is that ghost; one just registered reports 0 until its first heartbeat.
        """
        started = [process_start_ms(pid) for pid in self._live("taskexecutor")]
        try:
            with _NO_PROXY.open(f"{rest_url(self.layout)}/taskmanagers", timeout=2) as response:
                listed = json.load(response).get("taskmanagers", [])
        except (OSError, ValueError):
            return False
        # Slots, not free slots: a cluster whose slots all run jobs is healthy (and must not be restarted).
        return bool(started) and any(
            tm.get("slotsNumber", 0) >= 1
            and (tm.get("timeSinceLastHeartbeat", 0) == 0 or tm["timeSinceLastHeartbeat"] >= min(started))
            for tm in listed)

    # Process handling: two daemons found by the scripts' pid files --------------------------------
    def _live(self, daemon: str) -> list[int]:
        """Live pids in one daemon's pid file that really are this stack's JVMs (not reused pids)."""
        try:
            lines = self._pid_file(daemon).read_text().split()
        except OSError:
            return []
        return [int(p) for p in lines if p.isdigit() and self._is_ours(int(p))]

    def _is_ours(self, pid: int) -> bool:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return False
        return pid_alive(pid) and str(self.conf_dir).encode() in cmdline  # `--configDir <our conf>`

    def _daemon_pids(self) -> list[int]:
        return [pid for daemon in DAEMONS for pid in self._live(daemon)]

    def pid(self) -> int | None:
        pids = self._daemon_pids()
        return pids[0] if pids else None

    def is_running(self) -> bool:
        """Both JVMs are up: the JobManager's and the TaskManager's pid files name live processes."""
        return all(self._live(daemon) for daemon in DAEMONS)

    def start(self) -> None:
        """Render the config and run start-cluster.sh unless both daemons already run; does not wait."""
        if self.is_running():
            return
        if self._live("standalonesession") and self._watchdog_pid() is not None:
            # The TaskManager died and the watchdog is starting it again: wait for that, restart nothing.
            deadline = time.monotonic() + WATCHDOG_GRACE_S
            while time.monotonic() < deadline:
                if self.is_running():
                    return
                time.sleep(0.5)
        self.stop()  # half a cluster (one JVM died) is restarted whole
        for pid in self.check_ports():  # ours, yet in no pid file (a TaskManager the watchdog was starting)
            os.kill(pid, signal.SIGKILL)
        for daemon in DAEMONS:  # stale lines would only bump the log file index
            self._pid_file(daemon).unlink(missing_ok=True)
        super().start()  # port checks, prepare(), then start-cluster.sh, which forks both JVMs and exits
        launcher = int(self.pid_path.read_text())
        self.pid_path.unlink(missing_ok=True)  # the script's pid, not a daemon's
        deadline = time.monotonic() + 60
        while pid_alive(launcher) and time.monotonic() < deadline:
            time.sleep(0.2)
        if not self.is_running():
            missing = " and the ".join(DAEMON_NAMES[d] for d in DAEMONS if not self._live(d))
            raise ServiceStartError(f"{self.name}: the {missing} did not start (log: {self.failure_log()})")
        self._start_watchdog()

    def failure_log(self) -> Path:
        """The log of the first daemon that is not running, when that daemon wrote one; else start-cluster.sh's
        output (a configuration the scripts refuse never starts a JVM, and the scripts say why there)."""
        for daemon in DAEMONS:
            if not self._live(daemon):
                logs = sorted((self.layout.logs_dir / "flink").glob(f"flink-{IDENT}-{daemon}-*.log"),
                              key=lambda path: path.stat().st_mtime)
                return logs[-1] if logs else self.log_path
        return self.log_path

    @property
    def _watchdog_pid_path(self) -> Path:
        return self.layout.run_dir / "flink-watchdog.pid"

    def _start_watchdog(self) -> None:
        """A TaskManager that dies is started again (see flink_watchdog.sh)."""
        with open(self.layout.logs_dir / "flink-watchdog.log", "ab") as log:
            proc = subprocess.Popen(
                ["bash", str(WATCHDOG)], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=self.environment(), start_new_session=True,
            )
        self._watchdog_pid_path.write_text(str(proc.pid))

    def _watchdog_pid(self) -> int | None:
        """The watchdog's pid, if it runs (never a pid reused by someone else). Known by the script's name, not
        its path: a watchdog started by an earlier version, whose script lived elsewhere, is still ours to stop
        (else it outlives `down` and starts the TaskManager again)."""
        try:
            pid = int(self._watchdog_pid_path.read_text())
            args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError):
            return None
        runs_it = any(Path(os.fsdecode(arg)).name == WATCHDOG.name for arg in args[1:3])  # bash <script>
        return pid if runs_it and pid_alive(pid) else None

    def _stop_watchdog(self) -> None:
        pid = self._watchdog_pid()
        if pid is not None:
            os.killpg(pid, signal.SIGTERM)
        self._watchdog_pid_path.unlink(missing_ok=True)

    def stop(self, timeout: float = 30.0) -> bool:
        """stop-cluster.sh (TaskManager, then JobManager), then SIGKILL whatever of ours survived."""
        self._stop_watchdog()  # first: it would start the TaskManager again
        pids = self._daemon_pids()
        if not pids:
            return False
        with open(self.log_path, "ab") as log:
            try:
                subprocess.run(
                    ["bash", str(flink_home() / "bin" / "stop-cluster.sh")],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    env=self.environment(),
                    timeout=timeout,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                pass  # the kill below still applies
        deadline = time.monotonic() + 10
        while any(pid_alive(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.2)
        for pid in pids:
            if self._is_ours(pid):  # re-checked: never kill a pid reused by someone else
                os.kill(pid, signal.SIGKILL)
        kill_python_workers(self.conf_dir)  # `down` leaves no process behind, busy workers included
        for daemon in DAEMONS:
            self._pid_file(daemon).unlink(missing_ok=True)
        return True
