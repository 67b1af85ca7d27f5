"""``kanlab storage serve``: Optuna's gRPC storage proxy in front of one database.

The three-tier layout for many workers on many hosts::

    database  <-  kanlab storage serve DB_URL  <-  kanlab worker ... --storage grpc://HOST:PORT

The proxy (``optuna.storages.run_grpc_proxy_server``) holds the database connections and an
in-process cache of finished trials; every worker holds one gRPC channel. Optuna's proxy
serves relational databases only: a journal file is refused (Optuna issue #6084), and so is
another proxy.
"""

from __future__ import annotations

import argparse
import logging
import sys
import warnings

from kanlab._sigint import terminated_raises
from kanlab.command import Command, UsageError
from kanlab.config import ConfigError

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "StorageCommand", "serve"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 13000
logger = logging.getLogger(__name__)


def check_served_url(url: str) -> str:
    """The database URL a proxy may serve (checked, driver filled in); one line otherwise."""
    from kanlab.search.storage import GRPC, JOURNAL, check_storage_url

    if url.startswith(JOURNAL):
        raise ConfigError(
            f"`kanlab storage serve` needs a database URL (postgresql+psycopg://... or "
            f"sqlite:///...): Optuna's gRPC proxy does not support journal storage, but got "
            f"{url!r}."
        )
    if url.startswith(GRPC):
        raise ConfigError(f"`kanlab storage serve` needs a database URL, not another proxy, "
                          f"but got {url!r}.")
    return check_storage_url(url, create_dirs=True)


def serve(url: str, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
          threads: int = 16) -> None:
    """Serve the database at ``url`` on ``host:port`` until interrupted (blocks)."""
    from concurrent.futures import ThreadPoolExecutor

    import optuna

    from kanlab.search._optuna_private import server_storage
    from kanlab.search.storage import _grpc_ready, mask, open_storage

    url = check_served_url(url)
    _grpc_ready()
    # Heartbeats are the workers' (a trial system attribute); the server keeps none.
    database = open_storage(url, heartbeat_interval=60, grace_period=120)
    storage = server_storage(database)  # type: ignore[arg-type]
    sys.stderr.write(f"serving {mask(url)} at grpc://{host}:{port} (Ctrl-C stops)\n")
    sys.stderr.flush()
    # `kill`, scancel, a job's end: stop as Ctrl-C does
    with terminated_raises(), warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.run_grpc_proxy_server(storage, host=host, port=port,
                                              thread_pool=ThreadPoolExecutor(threads))


class StorageCommand(Command):
    """Serve a study database to many workers: kanlab storage serve DATABASE_URL.

    Runs Optuna's gRPC storage proxy in front of a PostgreSQL (or SQLite) database. Workers
    on any host then use --storage grpc://HOST:PORT instead of the database URL, so the
    database sees one client, not one connection pool per worker. Bind --host 0.0.0.0 to
    serve other machines (the proxy has no authentication: keep it on a private network).
    Needs pip install 'kanlab[grpc]'.
    """

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("action", choices=["serve"], help="what to do (serve)")
        parser.add_argument("storage", metavar="DATABASE_URL",
                            help="postgresql+psycopg://user@host/db (password from "
                            "$PGPASSWORD) or sqlite:///path.db")
        parser.add_argument("--host", default=DEFAULT_HOST,
                            help=f"address to listen on (default {DEFAULT_HOST}; 0.0.0.0 for "
                            "every interface)")
        parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                            help=f"port to listen on (default {DEFAULT_PORT})")
        parser.add_argument("--threads", type=int, default=16,
                            help="server threads answering workers' calls (default 16)")

    def run(self, args: argparse.Namespace) -> int:
        if not 0 < args.port < 65536:
            raise UsageError(f"`--port` must be in 1..65535, but got port={args.port}.")
        if args.threads < 1:
            raise UsageError(f"`--threads` must be >= 1, but got threads={args.threads}.")
        try:
            serve(args.storage, host=args.host, port=args.port, threads=args.threads)
        except KeyboardInterrupt:
            sys.stderr.write("proxy stopped\n")
        return 0
