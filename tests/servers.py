"""Throw-away PostgreSQL, Redis and RabbitMQ servers for the test suite.

Each server is started on first use, in a temporary directory and on a free loopback port, runs
for the rest of the test session and is stopped (its directory removed) when the session ends.
No system service and no root-only path is involved; PostgreSQL refuses to run as root, so as
root it runs as the ``postgres`` user. A server whose binaries are not installed is reported as
missing, with the reason, so a test can skip saying what is absent; ``scripts/setup`` installs
all three from Debian packages.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

POSTGRES_BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
RABBITMQ_SERVER = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")
START_TIMEOUT_S = 120.0


class ServerMissing(Exception):
    """The server's binaries are not on this machine (the message says which)."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for_port(port: int, process: subprocess.Popen[bytes] | None, log: Path, what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}:\n{_tail(log)}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on port {port} within {START_TIMEOUT_S:.0f} s:\n{_tail(log)}")


def _tail(path: Path, limit: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-limit:]
    except OSError:
        return "(no log)"


def _stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 20) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@dataclass
class Server:
    """A running throw-away server: its URL and how to stop it."""

    name: str
    url: str
    port: int
    directory: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    stop_hooks: list[Callable[[], None]] = field(default_factory=list)

    def stop(self) -> None:
        for hook in self.stop_hooks:
            with contextlib.suppress(Exception):
                hook()
        for process in reversed(self.processes):
            _stop(process)
        shutil.rmtree(self.directory, ignore_errors=True)

    def restart(self) -> None:
        """Stop and start the same server on the same port and data (a dependency outage)."""
        raise NotImplementedError


def _popen(
    command: list[str], log: Path, env: dict[str, str] | None = None, **kwargs: object
) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(  # type: ignore[call-overload,no-any-return]
            command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True, **kwargs
        )


# --- PostgreSQL ------------------------------------------------------------------------------


def _postgres_bin(name: str) -> Path:
    for directory in POSTGRES_BIN_DIRS:
        if (directory / name).exists():
            return directory / name
    found = shutil.which(name)
    if found:
        return Path(found)
    raise ServerMissing(f"PostgreSQL's {name} is not installed (Debian package postgresql)")


def _as_postgres_user() -> tuple[list[str], int | None, int | None]:
    """The command prefix and owner for running PostgreSQL (never as root)."""
    if os.geteuid() != 0:
        return [], None, None
    try:
        user = pwd.getpwnam("postgres")
    except KeyError as exc:
        raise ServerMissing("running as root needs the 'postgres' user (Debian package postgresql)") from exc
    return ["runuser", "-u", "postgres", "--"], user.pw_uid, user.pw_gid


@dataclass
class PostgresServer(Server):
    data: Path = Path()
    prefix: list[str] = field(default_factory=list)
    options: str = ""

    def _start(self) -> None:
        log = self.directory / "postgres.log"
        command = [*self.prefix, str(_postgres_bin("postgres")), "-D", str(self.data), *self.options.split()]
        process = _popen(command, log, cwd=self.directory)
        self.processes = [process]
        _wait_for_port(self.port, process, log, "postgres")
        _wait_for_postgres(self.url, process, log)

    def restart(self) -> None:
        for process in self.processes:
            _stop(process, signal.SIGINT)
        self._start()


def _wait_for_postgres(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """Listening is not accepting: wait until a connection succeeds (no 'starting up')."""
    import psycopg

    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            psycopg.connect(url, connect_timeout=2).close()
            return
        except psycopg.OperationalError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"postgres did not accept connections:\n{_tail(log)}") from None
            time.sleep(0.1)


def start_postgres(*, fsync: bool = False) -> PostgresServer:
    initdb = _postgres_bin("initdb")
    prefix, uid, gid = _as_postgres_user()
    directory = Path(tempfile.mkdtemp(prefix="sauti-pg-"))
    data = directory / "data"
    if uid is not None:
        os.chown(directory, uid, gid or -1)
    arguments = ["-D", str(data), "-U", "sauti", "--auth=trust", "--encoding=UTF8", "--no-sync"]
    initialised = subprocess.run(
        [*prefix, str(initdb), *arguments],
        capture_output=True,
        cwd=directory,
    )
    if initialised.returncode != 0:
        shutil.rmtree(directory, ignore_errors=True)
        raise RuntimeError(f"initdb failed:\n{initialised.stdout.decode()}{initialised.stderr.decode()}")
    port = free_port()
    options = (
        f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={directory} "
        f"-c max_connections=200 -c fsync={'on' if fsync else 'off'} "
        f"-c synchronous_commit={'on' if fsync else 'off'} -c full_page_writes={'on' if fsync else 'off'}"
    )
    server = PostgresServer(
        name="postgres",
        url=f"postgresql://sauti@127.0.0.1:{port}/postgres",
        port=port,
        directory=directory,
        data=data,
        prefix=prefix,
        options=options,
    )
    server._start()
    return server


# --- Redis -----------------------------------------------------------------------------------


@dataclass
class RedisServer(Server):
    command: list[str] = field(default_factory=list)

    def _start(self) -> None:
        log = self.directory / "redis.log"
        process = _popen(self.command, log, cwd=self.directory)
        self.processes = [process]
        _wait_for_port(self.port, process, log, "redis-server")

    def restart(self) -> None:
        for process in self.processes:
            _stop(process)
        self._start()


def start_redis() -> RedisServer:
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not Path(binary).exists():
        raise ServerMissing("redis-server is not installed (Debian package redis-server)")
    directory = Path(tempfile.mkdtemp(prefix="sauti-redis-"))
    port = free_port()
    command = [
        binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory),
        "--save", "", "--appendonly", "no", "--daemonize", "no", "--protected-mode", "yes",
    ]  # fmt: skip
    server = RedisServer(
        name="redis", url=f"redis://127.0.0.1:{port}/0", port=port, directory=directory, command=command
    )
    server._start()
    return server


# --- RabbitMQ --------------------------------------------------------------------------------


@dataclass
class RabbitServer(Server):
    env: dict[str, str] = field(default_factory=dict)

    def _start(self) -> None:
        log = self.directory / "rabbitmq.log"
        epmd = shutil.which("epmd") or "/usr/bin/epmd"
        # Our own epmd in the foreground, so it stops with the server instead of lingering as a daemon.
        epmd_command = [epmd, "-port", self.env["ERL_EPMD_PORT"], "-address", "127.0.0.1"]
        epmd_process = _popen(epmd_command, log, env=self.env)
        _wait_for_port(int(self.env["ERL_EPMD_PORT"]), epmd_process, log, "epmd")
        server = _popen([str(RABBITMQ_SERVER)], log, env=self.env, cwd=self.directory)
        self.processes = [epmd_process, server]
        _wait_for_port(self.port, server, log, "rabbitmq-server")


def start_rabbitmq() -> RabbitServer:
    if not RABBITMQ_SERVER.exists() or not shutil.which("erl"):
        raise ServerMissing("rabbitmq-server is not installed (Debian package rabbitmq-server)")
    directory = Path(tempfile.mkdtemp(prefix="sauti-rmq-"))
    port, dist_port, epmd_port = free_port(), free_port(), free_port()
    (directory / "home").mkdir()
    (directory / "rabbitmq.conf").write_text(
        f"listeners.tcp.default = 127.0.0.1:{port}\nloopback_users = none\n"
    )
    (directory / "enabled_plugins").write_text("[].\n")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(directory / "home"),
        "LANG": "C.UTF-8",
        "RABBITMQ_NODENAME": f"sauti{port}@localhost",
        "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
        "RABBITMQ_NODE_PORT": str(port),
        "RABBITMQ_DIST_PORT": str(dist_port),
        "ERL_EPMD_PORT": str(epmd_port),
        "ERL_EPMD_ADDRESS": "127.0.0.1",
        "RABBITMQ_MNESIA_BASE": str(directory / "mnesia"),
        "RABBITMQ_LOG_BASE": str(directory / "log"),
        "RABBITMQ_CONFIG_FILE": str(directory / "rabbitmq.conf"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(directory / "enabled_plugins"),
        "RABBITMQ_PID_FILE": str(directory / "rabbitmq.pid"),
    }
    server = RabbitServer(
        name="rabbitmq",
        url=f"amqp://guest:guest@127.0.0.1:{port}/%2F",
        port=port,
        directory=directory,
        env=env,
    )
    server._start()
    return server


# --- one of each per test session ------------------------------------------------------------

STARTERS: dict[str, Callable[[], Server]] = {
    "postgres": start_postgres,
    "redis": start_redis,
    "rabbitmq": start_rabbitmq,
}
_servers: dict[str, Server | ServerMissing] = {}
_lock = threading.Lock()


def shared(name: str) -> Server:
    """The session's server of that kind, started on first use; raises ServerMissing."""
    with _lock:
        if name not in _servers:
            try:
                _servers[name] = STARTERS[name]()
            except ServerMissing as missing:
                _servers[name] = missing
        found = _servers[name]
    if isinstance(found, ServerMissing):
        raise found
    return found


def stop_all() -> None:
    with _lock:
        for server in _servers.values():
            if isinstance(server, Server):
                server.stop()
        _servers.clear()


atexit.register(stop_all)
