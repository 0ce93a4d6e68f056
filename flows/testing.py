"""A real ``prefect server`` for tests and benchmarks, in the topology users run.

``LocalPrefectServer`` starts ``prefect server start`` on a free 127.0.0.1
port, backed by a fresh PostgreSQL database (127.0.0.1:5432, trust auth)
and falling back to SQLite, said out loud, only where no PostgreSQL answers.
Every process it starts runs in its own process group and is stopped by PID;
the database is dropped afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from types import TracebackType

import httpx

PREFECT = [sys.executable, "-m", "prefect"]
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _pg(statement: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(PG_ADMIN, timeout=5)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def run_checked(args: list[str], env: dict[str, str], cwd: Path, timeout: float = 180) -> str:
    """Run a command to its end and return its stdout.

    Raises:
        AssertionError: it exited non-zero; the message holds the command and
            the last 3,000 characters of its stdout and stderr.
        subprocess.TimeoutExpired: it ran longer than ``timeout`` seconds.
    """
    done = subprocess.run(  # noqa: S603 - our own commands
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        shown = " ".join(args[:6])
        raise AssertionError(f"{shown} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return done.stdout


def wait_for_workers(log_dir: Path, names: tuple[str, ...], timeout: float = 90) -> None:
    """Wait until every worker's log (``<log_dir>/<name>.log``) says it started.

    Tests start their workers before any run exists, so every worker gets some.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        logs = [(log_dir / f"{name}.log").read_text() for name in names]
        if all("started" in log.lower() for log in logs):
            return
        time.sleep(0.5)
    raise AssertionError(f"workers did not start within {timeout:.0f} s")


def runs_taken(worker_log: str) -> set[str]:
    """Flow-run ids a worker ran: it submitted them and the server did not abort (another won)."""
    tried = set(re.findall(r"submitting flow run '([0-9a-f-]{36})'", worker_log))
    lost = set(re.findall(r"Aborted submission of flow run '([0-9a-f-]{36})'", worker_log))
    return tried - lost


class ProcessGroup:
    """Processes started by us, each in its own session, stopped by PID."""

    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd
        self.started: list[subprocess.Popen[str]] = []

    def start(self, args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[str]:
        with log.open("w") as handle:
            process = subprocess.Popen(  # noqa: S603 - our own prefect commands
                args,
                cwd=self.cwd,
                env=env,
                stdout=handle,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,
            )
        self.started.append(process)
        return process

    def stop_all(self, grace_seconds: float = 20) -> None:
        for process in reversed(self.started):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace_seconds
        for process in self.started:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


class LocalPrefectServer:
    """``with LocalPrefectServer(cwd, workdir) as server: server.env['PREFECT_API_URL']``."""

    def __init__(self, cwd: Path, workdir: Path | None = None, *, scheduler: bool = False) -> None:
        self.cwd = cwd
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="prefect-server-"))
        self.scheduler = scheduler
        self.processes = ProcessGroup(cwd)
        self.database: str | None = None
        self.backend = "postgresql"
        self.env: dict[str, str] = {}

    def _database_url(self) -> str:
        name = f"slack_alerts_{uuid.uuid4().hex[:10]}"
        try:
            asyncio.run(_pg(f'CREATE DATABASE "{name}"'))
        except Exception as exc:
            reason = type(exc).__name__
            print(f"NOTE: no PostgreSQL on 127.0.0.1:5432 ({reason}); using SQLite instead")
            self.backend = "sqlite"
            return f"sqlite+aiosqlite:///{self.workdir / 'prefect.db'}"
        self.database = name
        return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"

    def __enter__(self) -> LocalPrefectServer:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "SLACK_"))}
        env.update(
            PREFECT_HOME=str(self.workdir / "prefect-home"),
            PREFECT_API_DATABASE_CONNECTION_URL=self._database_url(),
            PREFECT_API_URL=f"http://127.0.0.1:{port}/api",
            PREFECT_SERVER_ANALYTICS_ENABLED="false",
            PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED=str(self.scheduler).lower(),
            PREFECT_UI_ENABLED="false",
            PREFECT_LOCAL_STORAGE_PATH=str(self.workdir / "results"),
            SLACK_ALERTS_OUTBOX=str(self.workdir / "outbox"),
            SLACK_ALERTS_UNDELIVERED=str(self.workdir / "undelivered"),
        )
        self.env = env
        log = self.workdir / "server.log"
        server = self.processes.start(
            [*PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)], env, log
        )
        try:
            deadline = time.monotonic() + 120
            while True:
                if server.poll() is not None:
                    raise RuntimeError("prefect server exited:\n" + log.read_text()[-3000:])
                try:
                    if httpx.get(f"{env['PREFECT_API_URL']}/health", timeout=2).status_code == 200:
                        return self
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("prefect server did not become healthy in 120 s")
                time.sleep(0.5)
        except BaseException:
            self.__exit__(None, None, None)
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.processes.stop_all()
        if self.database:
            asyncio.run(_pg(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)'))
            self.database = None


class TcpProxy:
    """A TCP proxy on 127.0.0.1 in front of a server, to break the path on purpose.

    ``mode``: ``"forward"`` (pass bytes both ways), ``"down"`` (refuse new
    connections and cut open ones: the API has stopped), ``"blackhole"``
    (accept, read, never answer: the API hangs). Switching mode cuts every
    open connection, so pooled keep-alive connections cannot bypass it.
    """

    def __init__(self, upstream_port: int) -> None:
        import threading

        self.upstream_port = upstream_port
        self.mode = "forward"
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(128)
        self.port = int(self._listener.getsockname()[1])
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import threading

        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                mode = self.mode
                self._open.append(client)
            if mode == "down":
                client.close()
                continue
            if mode == "blackhole":
                threading.Thread(target=self._swallow, args=(client,), daemon=True).start()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open.append(upstream)
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _swallow(client: socket.socket) -> None:
        try:
            while client.recv(65536):
                pass
        except OSError:
            return

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)

    def set_mode(self, mode: str) -> None:
        with self._lock:
            self.mode = mode
            cut, self._open = self._open, []
        for connection in cut:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            connection.close()

    def close(self) -> None:
        self.set_mode("down")
        self._listener.close()
