"""The job database: SQLAlchemy Core tables, the engine for ``BACKDROP_DATABASE_URL`` (SQLite in the
data directory when unset) and the Alembic migrations that create and evolve it.

Why a database and not one ``job.json`` per folder: every change to a job must be one transaction
that any number of workers (and hosts, with PostgreSQL) see whole, render numbers must be unique
(the ``renders`` primary key refuses a duplicate instead of losing one), and the History page needs
an indexed "newest first" query instead of reading every folder. Files stay on disk; the ``files``
table names the ones a job may serve.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import (JSON, BigInteger, Column, DateTime, Engine, Index, Integer, MetaData, String, Table, Text,
                        create_engine, event, text)
from sqlalchemy.pool import StaticPool

DB_FILE = "backdrop.db"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# Any constant: PostgreSQL advisory lock that lets one process at a time migrate and import.
MIGRATION_LOCK = 0x0BAC_D809

T = TypeVar("T")
metadata = MetaData()

jobs = Table(
    "jobs", metadata,
    Column("id", String(32), primary_key=True),
    Column("created", DateTime(), nullable=False),  # naive UTC: SQLite keeps no time zone
    Column("owner", String(80), nullable=True),  # None: made before owners existed (shared)
    Column("source", String(16), nullable=False),
    Column("record", JSON, nullable=False),  # settings, original, masks, comparison, ... (webapp/jobstore.py)
    Column("damage", Text, nullable=True),  # why the job cannot be shown (a broken job.json imported)
    Index("ix_jobs_created", "created"),
    Index("ix_jobs_owner_created", "owner", "created"),
)

renders = Table(
    "renders", metadata,
    Column("job_id", String(32), primary_key=True),
    Column("n", Integer, primary_key=True),
    Column("model", String(32), nullable=False),
    Column("background", String(32), nullable=False),
    Column("file", String(80), nullable=False),
    Column("details", JSON, nullable=False),  # previews, timings, uploaded background file
)

files = Table(
    "files", metadata,
    Column("job_id", String(32), primary_key=True),
    Column("name", String(80), primary_key=True),
    Column("content_type", String(80), nullable=False),
    Column("bytes", BigInteger, nullable=False),
)


def database_url(data_dir: Path, url: str | None) -> str:
    return url or f"sqlite:///{Path(data_dir).resolve() / DB_FILE}"


def make_engine(url: str, read_only: bool = False) -> Engine:
    """An engine whose write transactions serialise per job (PostgreSQL: ``FOR UPDATE``) or per
    database (SQLite: ``BEGIN IMMEDIATE``, so two workers never both read-modify-write)."""
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True, pool_size=4, max_overflow=8)
    if read_only:
        # Read-only SQLite in WAL mode needs the log's files to exist already (a server that stopped
        # uncleanly left them: read through them); after a clean stop the file alone is the database.
        path = url.removeprefix("sqlite:///")
        mode = "mode=ro" if Path(path + "-wal").exists() and Path(path + "-shm").exists() else "immutable=1"
        return create_engine(f"sqlite:///file:{path}?{mode}&uri=true")
    memory = {"poolclass": StaticPool} if url == "sqlite://" else {}  # one in-memory database for all threads
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **memory)

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves (below)
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")  # readers never wait for the writer
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        immediate = connection.get_execution_options().get("write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def migrate(engine: Engine, then: Callable[[Any], T]) -> T:
    """Bring the schema to the newest migration and run ``then(connection)`` in the same transaction,
    one process at a time (workers start together, and must not import the same old jobs twice)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.connect().execution_options(write=True) as connection, connection.begin():
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
        return then(connection)
