"""A throwaway PostgreSQL server for tests and benchmarks (Debian's ``postgresql`` package).

``with postgres_server() as url:`` yields ``postgresql+psycopg://kanlab@127.0.0.1:PORT/kanlab``
and stops the server (and deletes its data) on exit. As root the server binaries run as the
``postgres`` user (``initdb`` refuses root); the data directory is a ``mkdtemp`` owned by it.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["grpc_proxy", "pg_bin", "postgres_server", "unavailable"]


def pg_bin() -> str | None:
    """The directory holding ``initdb``/``pg_ctl`` (newest version), or ``None``."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return str(Path(found[-1]).parent)
    initdb = shutil.which("initdb")
    return str(Path(initdb).parent) if initdb else None


def unavailable() -> str | None:
    """Why no server can be started here (``None`` when one can)."""
    if pg_bin() is None:
        return ("PostgreSQL server binaries (initdb, pg_ctl) are not installed; .ci/run "
                "installs the Debian 'postgresql' package")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install 'kanlab[dev]')"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root needs runuser to start PostgreSQL as user postgres"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def postgres_server(max_connections: int = 200) -> Iterator[str]:
    """Start a server on a free port; yield its storage URL; stop it and remove its data."""
    reason = unavailable()
    if reason is not None:
        raise RuntimeError(reason)
    bindir = pg_bin()
    as_root = os.geteuid() == 0
    prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
    run = [*prefix, "env", f"PATH={bindir}:{os.environ.get('PATH', '')}"]
    tmp = tempfile.mkdtemp(prefix="kanlab-pg-")
    if as_root:
        shutil.chown(tmp, "postgres", "postgres")
    port = _free_port()
    data = f"{tmp}/data"

    def call(*cmd: str) -> None:
        subprocess.run([*run, *cmd], check=True, capture_output=True, timeout=120)

    try:
        call("initdb", "-D", data, "-U", "kanlab", "--auth=trust")
        call("pg_ctl", "-D", data, "-l", f"{tmp}/log", "-w", "-o",
             f"-p {port} -k {tmp} -c listen_addresses=127.0.0.1 "
             f"-c max_connections={max_connections} -c fsync=off", "start")
        call("createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "kanlab", "kanlab")
        yield f"postgresql+psycopg://kanlab@127.0.0.1:{port}/kanlab"
    finally:
        subprocess.run([*run, "pg_ctl", "-D", data, "-m", "immediate", "stop"],
                       capture_output=True, timeout=60)
        shutil.rmtree(tmp, ignore_errors=True)


@contextmanager
def grpc_proxy(database_url: str, *, log: Path | None = None) -> Iterator[str]:
    """``kanlab storage serve DATABASE_URL`` on a free port of 127.0.0.1, in a child process;
    yields ``grpc://127.0.0.1:PORT`` once the proxy answers (its tables exist); stops it."""
    import signal
    import sys

    port = _free_port()
    out = log.open("w") if log is not None else subprocess.DEVNULL
    server = subprocess.Popen(
        [sys.executable, "-m", "kanlab.cli", "storage", "serve", database_url,
         "--host", "127.0.0.1", "--port", str(port)], stdout=out, stderr=subprocess.STDOUT)
    url = f"grpc://127.0.0.1:{port}"
    try:
        from kanlab.search.storage import open_storage

        open_storage(url).close()  # type: ignore[attr-defined]  # waits for the proxy
        yield url
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        if log is not None and not isinstance(out, int):
            out.close()
