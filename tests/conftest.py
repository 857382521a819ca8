"""Shared fixtures: a real PostgreSQL server for the session, databases on SQLite and PostgreSQL, paths."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
PG_BIN = Path("/usr/lib/postgresql/15/bin")


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A port that was free on 127.0.0.1 a moment ago."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_udp_and_tcp_port(tries: int = 50) -> int:
    """A port number free on 127.0.0.1 for UDP and TCP at once (SIP listens on both)."""
    for _ in range(tries):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind(("127.0.0.1", 0))
            port = int(u.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                try:
                    t.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no port free for both UDP and TCP")


class PostgresServer:
    """A throw-away PostgreSQL cluster run as the `postgres` OS user on 127.0.0.1."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="tongdai-pg-"))
        self.port = free_port()
        self._as_postgres = os.geteuid() == 0

    def _run(self, *cmd: str) -> None:
        full = ["runuser", "-u", "postgres", "--", *cmd] if self._as_postgres else list(cmd)
        subprocess.run(full, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120)

    def start(self) -> None:
        if self._as_postgres:
            shutil.chown(self.dir, "postgres", "postgres")
        data = self.dir / "data"
        self._run(str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")
        opts = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.dir} -c fsync=off -c full_page_writes=off"
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(data), "-o", opts, "-w", "-t", "60", "-l", str(self.dir / "log"), "start")

    def stop(self) -> None:
        try:
            self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.dir / "data"), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    def create_database(self) -> str:
        """A new empty database; returns its SQLAlchemy URL."""
        name = "t_" + uuid.uuid4().hex[:12]
        self._run(str(PG_BIN / "createdb") if (PG_BIN / "createdb").exists() else "createdb",
                  "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{name}"


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    server = PostgresServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database on SQLite and, in a second run of the test, on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'tongdai.db'}"
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.create_database()


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.05) -> bool:  # type: ignore[no-untyped-def]
    """Poll `predicate` until it is true or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


class RunningTongdai:
    """`tongdai run --demo` as a subprocess on free ports with its own data directory."""

    def __init__(self, workdir: Path, *extra: str) -> None:
        import os
        import subprocess
        import sys

        from tests.conftest import free_port

        self.port = free_port()
        self.sip_port = free_udp_and_tcp_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.workdir = workdir
        self.log = workdir / "tongdai.log"
        cmd = [sys.executable, "-m", "tongdai", "--set", f"http.port={self.port}", "--set", f"data_dir={workdir}/var",
               "--set", f"database.url=sqlite+aiosqlite:///{workdir}/var/tongdai.db",
               "--set", f"sip.udp_port={self.sip_port}", "--set", f"sip.tcp_port={self.sip_port}", *extra, "run", "--demo"]
        env = {k: v for k, v in os.environ.items() if not k.startswith("TONGDAI_")}
        self.proc = subprocess.Popen(cmd, cwd=workdir, stdout=self.log.open("wb"), stderr=subprocess.STDOUT, env=env)

    def wait_ready(self, timeout: float = 60) -> float:
        """Seconds until /readyz answered 200."""
        import httpx

        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if self.proc.poll() is not None:
                raise AssertionError(f"tongdai exited early:\n{self.log.read_text()}")
            try:
                if httpx.get(self.base + "/readyz", timeout=1).status_code == 200:
                    return time.monotonic() - start
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"tongdai not ready within {timeout} s:\n{self.log.read_text()}")

    def stop(self, sig: int = 2, timeout: float = 20) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return int(self.proc.returncode)


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory):
    t = RunningTongdai(tmp_path_factory.mktemp("run"))
    try:
        t.wait_ready()
        yield t
    finally:
        t.stop()
