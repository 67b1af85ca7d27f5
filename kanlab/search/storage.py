"""Study storages: SQLite by default, PostgreSQL or a journal file for many workers.

* No storage given: ``sqlite:///<results dir>/studies/<study>.db``, created on first use, with
  a busy timeout. Fine for one to a few local workers (bench/search.py measures its limit).
* ``postgresql+psycopg://user@host:port/db`` (``postgresql://`` means the same): for workers
  on several machines. The password comes from ``$PGPASSWORD`` (read by libpq) or
  ``$KANLAB_DB_PASSWORD``; it is never printed (:func:`mask`).
* ``journal:///abs/path/study.log`` (or ``journal:relative/study.log``, from the current
  directory): Optuna's append-only journal file, for workers on machines that share a
  filesystem but no database server.
* ``grpc://host:port``: Optuna's gRPC storage proxy (``kanlab storage serve DATABASE_URL``,
  :mod:`kanlab.search.serve`) in front of one database, for many workers on many hosts: the
  workers hold one gRPC channel each instead of a pool of database connections (PostgreSQL's
  connection cap, SQLite's lock). Needs ``pip install 'kanlab[grpc]'``.
* A bare file path is a SQLite file, relative to the results dir.

Every storage runs heartbeats: a trial whose worker died (no heartbeat for ``grace_period``
seconds) is marked FAIL and re-enqueued by Optuna's ``RetryHeartbeatStaleTrialCallback``.
Optuna's journal storage and gRPC proxy have no heartbeats of its own;
:class:`JournalHeartbeatStorage` and :class:`GrpcHeartbeatStorage` keep them as a trial system
attribute written every ``heartbeat_interval`` (:class:`AttrHeartbeat`).
:func:`check_storage_url` validates a URL without touching anything, so a bad URL fails
before a file or database is created.
"""

from __future__ import annotations

import logging
import threading
import time
import warnings
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, cast

import optuna
from optuna.storages import (
    BaseStorage,
    GrpcStorageProxy,
    RDBStorage,
    RetryHeartbeatStaleTrialCallback,
)
from optuna.storages.journal import JournalFileBackend, JournalStorage
from optuna.trial import FrozenTrial, TrialState

from kanlab import settings
from kanlab.config import ConfigError
from kanlab.errors import SetupError
from kanlab.registry import suggest
from kanlab.search._optuna_private import BaseHeartbeat, count_by_state, trial_id

__all__ = [
    "FINISHED",
    "GrpcHeartbeatStorage",
    "JournalHeartbeatStorage",
    "StudyCounts",
    "TrialGate",
    "check_storage_url",
    "counts",
    "default_storage",
    "grpc_address",
    "journal_path",
    "mask",
    "open_storage",
]

logger = logging.getLogger(__name__)
_DIALECTS = ("sqlite", "postgresql", "journal", "grpc")
SQLITE_TIMEOUT_S = 60
JOURNAL = "journal:"
GRPC = "grpc://"
GRPC_CONNECT_TIMEOUT_S = 20


def default_storage(results_dir: Path, study: str) -> str:
    """``sqlite:///<results_dir>/studies/<study>.db`` (absolute path)."""
    return f"sqlite:///{(Path(results_dir) / 'studies' / f'{study}.db').resolve()}"


def resolve_storage(storage: str | None, *, results_dir: Path, study: str) -> str:
    """A storage option (URL, SQLite path or ``None``) -> URL."""
    if storage is None or not str(storage).strip():
        return default_storage(results_dir, study)
    storage = str(storage).strip()
    if storage.startswith(JOURNAL):
        return f"{JOURNAL}//{journal_path(storage)}"
    if "://" not in storage:
        path = Path(storage).expanduser()
        if not path.is_absolute():
            path = Path(results_dir) / path
        return f"sqlite:///{path.resolve()}"
    return storage


def journal_path(url: str) -> Path:
    """``journal:///abs/x.log`` or ``journal:rel/x.log`` -> absolute path of the log file."""
    rest = url[len(JOURNAL):]
    if rest.startswith("///"):
        rest = rest[2:]
    elif rest.startswith("//"):
        raise ConfigError(
            f"`storage` must be journal:///absolute/path.log or journal:relative/path.log, "
            f"but got {url!r} (a host is not allowed)."
        )
    if not rest.strip():
        raise ConfigError(f"`storage` must name a journal file after 'journal:', but got {url!r}.")
    return Path(rest).expanduser().resolve()


def grpc_address(url: str) -> tuple[str, int]:
    """``grpc://host:port`` -> ``(host, port)``; a one-line :class:`ConfigError` otherwise."""
    rest = url[len(GRPC):].rstrip("/")
    host, sep, port = rest.rpartition(":")
    host = host.strip("[]")  # grpc://[::1]:13000
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536 or "/" in rest:
        raise ConfigError(
            f"`storage` must be grpc://HOST:PORT (a `kanlab storage serve` proxy), but got "
            f"{url!r}."
        )
    return host, int(port)


def _grpc_ready() -> None:
    try:
        import grpc  # noqa: F401
        from google import protobuf  # noqa: F401
    except ImportError:
        raise ConfigError(
            "grpc:// storage needs grpcio and protobuf: pip install 'kanlab[grpc]'."
        ) from None


def _url(url: str) -> Any:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url)
    except (ArgumentError, ValueError) as exc:
        raise ConfigError(f"`storage` must be a database URL, but got {url!r} ({exc}).") from None


def mask(url: str) -> str:
    """The URL with any password replaced by ``***`` (safe to print or store)."""
    if url.startswith((JOURNAL, GRPC)):
        return url
    try:
        return str(_url(url).render_as_string(hide_password=True))
    except ConfigError:
        return "<invalid storage URL>"


def check_storage_url(url: str, *, create_dirs: bool = False) -> str:
    """Validate ``url`` without side effects; return the URL with the driver filled in.

    Raises:
        ConfigError: unknown dialect, missing driver, SQLite file in a missing directory, a
            PostgreSQL URL without host or database, a journal path that is a directory.
    """
    if url.startswith(JOURNAL):
        path = journal_path(url)
        if path.is_dir():
            raise ConfigError(f"`storage` must name a journal file, but {str(path)!r} is a "
                              "directory.")
        if not create_dirs and not path.parent.is_dir():
            raise ConfigError(
                f"`storage` directory {str(path.parent)!r} does not exist (from {url!r})."
            )
        return f"{JOURNAL}//{path}"
    if url.startswith(GRPC):
        host, port = grpc_address(url)
        _grpc_ready()
        return f"{GRPC}{host}:{port}"
    parsed = _url(url)
    dialect = parsed.get_backend_name()
    if dialect not in _DIALECTS:
        raise ConfigError(
            f"`storage` must be a sqlite:///, postgresql+psycopg://, journal:/// or "
            f"grpc://host:port URL, but got "
            f"{mask(url)!r}.{suggest(dialect, list(_DIALECTS))}"
        )
    if dialect == "sqlite":
        database = parsed.database or ""
        if not database or database == ":memory:":
            raise ConfigError(
                f"`storage` must name a SQLite file (in-memory studies cannot be shared or "
                f"resumed), but got {mask(url)!r}."
            )
        parent = Path(database).expanduser().resolve().parent
        if not create_dirs and not parent.is_dir():
            raise ConfigError(
                f"`storage` directory {str(parent)!r} does not exist (from {mask(url)!r})."
            )
        return url
    driver = parsed.get_driver_name()
    if "+" not in parsed.drivername:
        parsed = parsed.set(drivername="postgresql+psycopg")
        driver = "psycopg"
    if driver == "psycopg":
        try:
            import psycopg  # noqa: F401
        except ImportError:
            raise ConfigError(
                "PostgreSQL storage needs psycopg: pip install 'kanlab[postgres]'."
            ) from None
    if not parsed.host or not parsed.database:
        raise ConfigError(
            "`storage` must name a host and a database "
            f"(postgresql+psycopg://user@host:port/db), but got {mask(url)!r}."
        )
    password = settings.db_password()
    if parsed.password is None and password:
        parsed = parsed.set(password=password)
    return str(parsed.render_as_string(hide_password=False))


def open_storage(
    url: str,
    *,
    heartbeat_interval: int = 10,
    grace_period: int = 30,
    max_retry: int = 2,
    create_dirs: bool = True,
) -> BaseStorage:
    """Connect (creating the SQLite/journal file and its directory if needed), heartbeats on.

    Raises:
        ConfigError: for an invalid URL (before anything is created).
        SetupError: when the database cannot be reached (one line, password masked).
    """
    url = check_storage_url(url, create_dirs=create_dirs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        retry = RetryHeartbeatStaleTrialCallback(max_retry=max_retry)
    if url.startswith(JOURNAL):
        path = journal_path(url)
        path.parent.mkdir(parents=True, exist_ok=True)
        quiet_optuna()
        try:
            return JournalHeartbeatStorage(path, heartbeat_interval=heartbeat_interval,
                                           grace_period=grace_period, retry=retry)
        except OSError as exc:
            raise RuntimeError(f"Cannot open storage {url}: {exc}") from None
    if url.startswith(GRPC):
        quiet_optuna()
        return GrpcHeartbeatStorage(url, heartbeat_interval=heartbeat_interval,
                                    grace_period=grace_period, retry=retry)
    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        database = _url(url).database
        Path(database).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
        kwargs = {"connect_args": {"timeout": SQLITE_TIMEOUT_S}}
    else:
        kwargs = {"pool_pre_ping": True, "connect_args": {"connect_timeout": 10}}
    quiet_optuna()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            storage = RDBStorage(
                url,
                engine_kwargs=kwargs,
                heartbeat_interval=heartbeat_interval,
                grace_period=grace_period,
                heartbeat_stale_trial_callback=retry,
            )
        if url.startswith("sqlite"):
            _sqlite_wal(storage)
        return storage
    except Exception as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        text = reason[0] if reason else type(exc).__name__
        raise SetupError(f"Cannot open storage {mask(url)}: {text}") from None


FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


@dataclass(frozen=True)
class StudyCounts:
    finished: int  # complete + pruned
    running: int
    waiting: int
    failed: int
    complete: int = 0


def counts(study: optuna.Study) -> StudyCounts:
    """Trials by state. On a database this is one ``COUNT ... GROUP BY`` query, not a load of
    every trial (workers count before each trial; a study may hold thousands); the gRPC
    proxy's client keeps finished trials cached and reads only the new and running ones."""
    by_state = count_by_state(study)
    if by_state is None:
        trials = study.get_trials(deepcopy=False)
        by_state = {s: sum(t.state == s for t in trials) for s in TrialState}
    return StudyCounts(
        finished=by_state[TrialState.COMPLETE] + by_state[TrialState.PRUNED],
        running=by_state[TrialState.RUNNING],
        waiting=by_state[TrialState.WAITING],
        failed=by_state[TrialState.FAIL],
        complete=by_state[TrialState.COMPLETE],
    )


def _sqlite_wal(storage: RDBStorage) -> None:
    """Write-ahead log, ``synchronous=NORMAL``: a commit no longer waits for an fsync.

    Optuna commits every user attribute, report and heartbeat separately (about 20 per
    trial); with SQLite's default rollback journal each costs an fsync, tens of ms on a busy
    disk. With WAL, readers (other workers counting trials, the dashboard) also stop blocking
    the writer. A crash can lose the last commits but never corrupts the file.
    """
    from sqlalchemy import event

    def pragmas(dbapi_connection: Any, _: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    event.listen(storage.engine, "connect", pragmas)
    storage.engine.dispose()  # connections opened before the listener get it on reconnect


def study_exists(storage: BaseStorage, name: str) -> bool:
    return any(s.study_name == name for s in storage.get_all_studies())


class AttrHeartbeat(BaseHeartbeat):
    """Heartbeats kept as a trial system attribute, for storages that have none of their own.

    Optuna runs :meth:`record_heartbeat` from a thread while a trial runs; it writes the
    time as the trial's ``kanlab:heartbeat`` system attribute. A RUNNING trial whose last
    heartbeat (or start, for a trial that never sent one) is older than ``grace_period``
    seconds is stale: ``optuna.storages.fail_stale_trials`` fails it and the retry callback
    enqueues it again, as with PostgreSQL. Clocks of workers on different machines must agree
    to well within ``grace_period``.
    """

    KEY = "kanlab:heartbeat"
    _interval: int
    _grace: int
    _retry: RetryHeartbeatStaleTrialCallback | None

    def _heartbeats(self, heartbeat_interval: int, grace_period: int,
                    retry: RetryHeartbeatStaleTrialCallback | None) -> None:
        self._interval = heartbeat_interval
        self._grace = grace_period
        self._retry = retry

    def record_heartbeat(self, trial_id: int) -> None:
        cast(BaseStorage, self).set_trial_system_attr(trial_id, self.KEY, time.time())

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        now = time.time()
        stale = []
        running = cast(BaseStorage, self).get_all_trials(study_id, deepcopy=False,
                                                         states=(TrialState.RUNNING,))
        for trial in running:
            started = trial.datetime_start.timestamp() if trial.datetime_start else now
            # A retried trial inherits its original's heartbeat attribute: its own start counts.
            last = max(float(trial.system_attrs.get(self.KEY, 0.0)), started)
            if now - last > self._grace:
                stale.append(trial_id(trial))
        return stale

    def get_heartbeat_interval(self) -> int | None:
        return self._interval

    def get_heartbeat_stale_trial_callback(
        self,
    ) -> Callable[[optuna.Study, FrozenTrial], None] | None:
        return self._retry


class JournalHeartbeatStorage(JournalStorage, AttrHeartbeat):
    """Optuna's journal file storage plus heartbeats, kept in the journal itself (one short
    line per interval; :class:`AttrHeartbeat`)."""

    def __init__(
        self,
        path: Path,
        *,
        heartbeat_interval: int,
        grace_period: int,
        retry: RetryHeartbeatStaleTrialCallback | None,
    ) -> None:
        super().__init__(JournalFileBackend(str(path)))
        self.path = path
        self._heartbeats(heartbeat_interval, grace_period, retry)


class GrpcHeartbeatStorage(GrpcStorageProxy, AttrHeartbeat):
    """A client of Optuna's gRPC storage proxy plus heartbeats.

    The proxy forwards storage calls, not heartbeats, so they are kept as a trial system
    attribute (:class:`AttrHeartbeat`), which it does forward. Waits up to
    ``GRPC_CONNECT_TIMEOUT_S`` for the proxy (grpcio comes with ``kanlab[grpc]``).
    """

    def __init__(
        self,
        url: str,
        *,
        heartbeat_interval: int,
        grace_period: int,
        retry: RetryHeartbeatStaleTrialCallback | None,
    ) -> None:
        host, port = grpc_address(url)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            super().__init__(host=host, port=port)
        self.url = url
        self._heartbeats(heartbeat_interval, grace_period, retry)
        try:
            self.wait_server_ready(timeout=GRPC_CONNECT_TIMEOUT_S)
        except ConnectionError:
            self.close()
            raise SetupError(
                f"Cannot open storage {url}: no gRPC storage proxy answered within "
                f"{GRPC_CONNECT_TIMEOUT_S} s (start one with `kanlab storage serve "
                f"DATABASE_URL --host HOST --port {port}`)."
            ) from None


class TrialGate:
    """A cross-process lock around "count the trials, then start one".

    Held from the trial count until the new trial exists, so W workers never start more than
    the requested number of trials. SQLite and journal files use a lock file next to the
    database or log (on a shared filesystem that supports locks); PostgreSQL a
    session-level advisory lock keyed by the study name (works across machines).
    """

    def __init__(self, storage: BaseStorage, study: str) -> None:
        self._held = False
        self._lock: Any
        url = str(getattr(storage, "url", ""))
        if isinstance(storage, JournalHeartbeatStorage):
            from filelock import FileLock

            self._lock = FileLock(f"{storage.path}.gate.lock")
            self._kind = "file"
        elif url.startswith("sqlite"):
            from filelock import FileLock

            database = Path(_url(url).database).expanduser().resolve()
            self._lock = FileLock(str(database) + ".lock")
            self._kind = "file"
        elif url.startswith("postgresql"):
            self._engine = cast(RDBStorage, storage).engine
            self._key = zlib.crc32(f"kanlab-study:{study}".encode()) - 2**31
            self._conn: Any = None
            self._kind = "pg"
        else:
            self._lock = threading.Lock()
            self._kind = "thread"

    def acquire(self) -> None:
        if self._held:
            return
        if self._kind == "pg":
            from sqlalchemy import text

            if self._conn is None:
                self._conn = self._engine.connect()
            self._conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": self._key})
            self._conn.commit()
        else:
            self._lock.acquire()
        self._held = True

    def release(self) -> None:
        if not self._held:
            return
        self._held = False
        if self._kind == "pg":
            from sqlalchemy import text

            self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self._key})
            self._conn.commit()
        else:
            self._lock.release()

    def close(self) -> None:
        self.release()
        if self._kind == "pg" and self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> TrialGate:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def quiet_optuna() -> None:
    """Optuna's per-trial INFO lines off (kanlab shows its own progress), and no traceback
    for a trial stopped by Ctrl-C (it is FAIL with the reason "interrupted (Ctrl-C)")."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    trials = logging.getLogger("optuna.study._optimize")
    if not any(isinstance(f, _NoInterruptTraceback) for f in trials.filters):
        trials.addFilter(_NoInterruptTraceback())


class _NoInterruptTraceback(logging.Filter):
    """Drops Optuna's two "Trial N failed ..." warnings for a trial ended by Ctrl-C."""

    def __init__(self) -> None:
        super().__init__()
        self._next: str | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[0] if record.exc_info else None
        message = record.getMessage()
        if exc is not None and issubclass(exc, KeyboardInterrupt):
            number = message.split(" ", 2)[1] if message.startswith("Trial ") else ""
            self._next = f"Trial {number} failed with value"
            return False
        if self._next is not None and message.startswith(self._next):
            self._next = None
            return False
        return True
