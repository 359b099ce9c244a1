"""Engine and session factory, the embedded PostgreSQL, and migrations at start-up."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import anyio
from sqlalchemy import select, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool

import archon_mcp
from archon_mcp.config import Settings
from archon_mcp.errors import ArchonError, DatabaseRejectedError, DatabaseUnavailableError, EmbeddingModelMismatchError
from archon_mcp.models import EmbeddingConfig

log = logging.getLogger(__name__)
T = TypeVar("T")

# Any fixed 64-bit number: every archon-mcp process migrating the same database takes this lock.
MIGRATION_LOCK_KEY = 0x41524348_4F4E4D43


def migrations_path() -> Path:
    """The Alembic script folder: inside the wheel (`_alembic`) or the checkout's `alembic/`."""
    package_dir = Path(archon_mcp.__file__).resolve().parent
    shipped = package_dir / "_alembic"
    if (shipped / "env.py").exists():
        return shipped
    return package_dir.parent / "alembic"


def to_asyncpg_url(url: str) -> str:
    """Accept any postgres URL a user may paste and make it one SQLAlchemy's asyncpg driver takes."""
    parts = urlsplit(url)
    scheme = parts.scheme.split("+", 1)[0]
    if scheme not in ("postgresql", "postgres"):
        raise ValueError(
            f"ARCHON_DATABASE_URL must start with postgresql:// (got {parts.scheme}://); "
            "unset it to use the embedded server"
        )
    query = []
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key == "sslmode":  # libpq spelling; asyncpg calls it ssl
            key = "ssl"
        query.append((key, value))
    return urlunsplit(("postgresql+asyncpg", parts.netloc, parts.path, urlencode(query), parts.fragment))


def _start_embedded(settings: Settings) -> str:
    from archon_mcp import embedded

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return embedded.start(settings.data_dir / "pgdata", shared_buffers_mb=settings.embedded_shared_buffers_mb)


async def _ensure_database(admin_url: str, name: str) -> None:
    engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=None)
    try:
        async with engine.connect() as conn:
            exists = await conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
            if not exists:
                try:
                    await conn.execute(text(f'CREATE DATABASE "{name}"'))
                except Exception:
                    # Another process created it a moment ago: PostgreSQL says "already exists", or,
                    # when both CREATEs run at once, a unique violation on pg_database. Either way
                    # the database is there now; anything else is a real error.
                    if not await conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}):
                        raise
    finally:
        await engine.dispose()


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def alembic_config(settings: Settings):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_path()))
    cfg.attributes["embedding"] = (
        settings.embedding_provider,
        settings.resolved_embedding_model,
        settings.resolved_embedding_dimensions,
    )
    return cfg


def _upgrade(connection: Connection, settings: Settings, revision: str) -> None:
    from alembic import command

    cfg = alembic_config(settings)
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, revision)


@contextlib.asynccontextmanager
async def _translated(resource: contextlib.AbstractAsyncContextManager[T]) -> AsyncIterator[T]:
    """The data boundary: a driver or SQLAlchemy error leaving a `with database.session()/connect()/begin()`
    block becomes the project's own exception, so no layer above needs to know SQLAlchemy."""
    try:
        async with resource as value:
            yield value
    except ArchonError:
        raise
    except (OperationalError, InterfaceError, PoolTimeoutError, OSError, TimeoutError) as exc:
        log.warning("database unavailable: %s", exc)
        raise DatabaseUnavailableError() from exc
    except DBAPIError as exc:
        log.exception("database error")
        raise DatabaseRejectedError(f"the database rejected the request: {exc.orig}") from exc


class Database:
    """Owns the engine. `start()` finds or starts PostgreSQL, migrates and checks the embedding model."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.url: str | None = None
        self._engine: AsyncEngine | None = None
        self._autocommit: AsyncEngine | None = None
        self._sessionmaker: async_sessionmaker[AsyncSession] | None = None

    @property
    def engine(self) -> AsyncEngine:
        if self._engine is None:
            raise RuntimeError("Database.start() has not been called")
        return self._engine

    @property
    def embedded(self) -> bool:
        return self.settings.database_url is None

    def session(self) -> contextlib.AbstractAsyncContextManager[AsyncSession]:
        """An ORM session (`async with database.session() as db`); driver errors leave it as ours."""
        if self._sessionmaker is None:
            raise RuntimeError("Database.start() has not been called")
        return _translated(self._sessionmaker())

    def connect(self) -> contextlib.AbstractAsyncContextManager[AsyncConnection]:
        """A pooled Core connection in autocommit mode: each statement is its own transaction, one
        round trip without BEGIN/COMMIT. For the hot writes that are one statement each (an event,
        a new session, ending one): through the ORM session they took 4-5 ms of Python and four
        round trips, as one Core statement ~1.5 ms (docs/BENCHMARKS.md)."""
        if self._autocommit is None:
            raise RuntimeError("Database.start() has not been called")
        return _translated(self._autocommit.connect())

    def begin(self) -> contextlib.AbstractAsyncContextManager[AsyncConnection]:
        """A pooled Core connection inside a transaction (commits on success, rolls back on error)."""
        return _translated(self.engine.begin())

    async def start(self, *, migrate: bool | None = None, check_embedding: bool = True) -> None:
        settings = self.settings
        if settings.database_url:
            url = to_asyncpg_url(settings.database_url)
        else:
            admin_url = await anyio.to_thread.run_sync(_start_embedded, settings)
            await _ensure_database(admin_url, settings.database_name)
            url = _with_database(admin_url, settings.database_name)
        self.url = url
        self._engine = create_async_engine(
            url,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_pool_size,
            # A ping is one more round trip per transaction; the embedded server on a unix socket
            # does not drop idle connections behind our back, remote servers and poolers do.
            pool_pre_ping=not self.embedded,
            pool_timeout=settings.db_connect_timeout,
            connect_args=self._connect_args(),
        )
        self._autocommit = self._engine.execution_options(isolation_level="AUTOCOMMIT")
        self._sessionmaker = async_sessionmaker(self._engine, expire_on_commit=False)
        try:
            if settings.migrate_on_start if migrate is None else migrate:
                await self.upgrade()
            if check_embedding:
                await self.check_embedding_model()
        except OSError as exc:
            raise DatabaseUnavailableError(f"cannot reach PostgreSQL: {exc}") from exc

    def _connect_args(self, *, migrations: bool = False) -> dict[str, object]:
        settings = self.settings
        # jit: short OLTP queries never win from it, and a plan that crosses its cost threshold
        # (counts over a large table) pays tens of ms of compile time per call.
        server_settings = {"application_name": "archon-mcp", "jit": "off"}
        connect_args: dict[str, object] = {"timeout": settings.db_connect_timeout, "server_settings": server_settings}
        if migrations:
            # A migration may rebuild an index over a large store for minutes (0003: ~85 s at 100k
            # events on 2 cores): no statement timeout, on either side.
            server_settings["application_name"] = "archon-mcp migrations"
            return connect_args
        if not settings.db_synchronous_commit:
            # Opt-in: a commit returns before the WAL flush (~10 ms per fsync on a busy disk, the
            # write tools' biggest cost), but a PostgreSQL or OS crash can then lose the last
            # ~0.6 s of acknowledged writes. Off by default: an accepted write must survive.
            server_settings["synchronous_commit"] = "off"
        if settings.db_idle_in_transaction_timeout_ms:
            server_settings["idle_in_transaction_session_timeout"] = str(settings.db_idle_in_transaction_timeout_ms)
        if settings.db_statement_timeout_ms:
            server_settings["statement_timeout"] = str(settings.db_statement_timeout_ms)
            # statement_timeout is enforced by the server; a server that hangs (stopped, partitioned)
            # enforces nothing. Give up on our side a little later, so the call fails instead of hanging.
            connect_args["command_timeout"] = settings.db_statement_timeout_ms / 1000 + 5
        return connect_args

    async def upgrade(self, revision: str = "head") -> None:
        """Apply migrations; an advisory lock makes concurrent starts take turns. On a connection
        of its own, without the request path's statement timeouts."""
        if self.url is None:
            raise RuntimeError("Database.start() has not been called")
        engine = create_async_engine(self.url, poolclass=NullPool, connect_args=self._connect_args(migrations=True))
        try:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK_KEY})
                await conn.commit()
                try:
                    await conn.run_sync(_upgrade, self.settings, revision)
                    await conn.commit()
                finally:
                    await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK_KEY})
                    await conn.commit()
        finally:
            await engine.dispose()

    async def stored_embedding_config(self) -> EmbeddingConfig | None:
        async with self.session() as session:
            return await session.scalar(select(EmbeddingConfig).where(EmbeddingConfig.id == 1))

    async def check_embedding_model(self) -> None:
        stored = await self.stored_embedding_config()
        if stored is None:
            raise DatabaseUnavailableError(
                "the database has no archon schema yet: run `archon-mcp db upgrade` (or serve with migrations on)"
            )
        model = self.settings.resolved_embedding_model
        dims = self.settings.resolved_embedding_dimensions
        if stored.model != model or stored.dimensions != dims:
            raise EmbeddingModelMismatchError(
                f"this database was embedded with {stored.provider} model {stored.model!r} "
                f"({stored.dimensions} dimensions) but the server is configured for {model!r} ({dims} "
                f"dimensions). Run `archon-mcp reembed` to re-embed everything with {model!r}, or set "
                f"ARCHON_EMBEDDING_PROVIDER={stored.provider} ARCHON_EMBEDDING_MODEL={stored.model} "
                f"ARCHON_EMBEDDING_DIMENSIONS={stored.dimensions} to keep the old model."
            )

    @contextlib.asynccontextmanager
    async def opened(self, *, migrate: bool | None = None, check_embedding: bool = True) -> AsyncIterator[Database]:
        """Started for the block, closed however it ends: `async with Database(settings).opened() as db:`."""
        await self.start(migrate=migrate, check_embedding=check_embedding)
        try:
            yield self
        finally:
            await self.close()

    async def __aenter__(self) -> Database:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None
            self._autocommit = None
            self._sessionmaker = None
