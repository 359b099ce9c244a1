"""MCP over stdin/stdout where every line gets an answer.

The SDK's `stdio_server` (mcp 2.3, `mcp/server/stdio.py`) decodes stdin with `errors="replace"`, so
invalid UTF-8 reaches the tools as U+FFFD, and hands a line that fails `validate_json` (not JSON,
nested too deeply, a lone surrogate escape such as `"\\udfff"`, not a JSON-RPC message) to the
server as an exception, which the dispatcher logs at DEBUG and drops: no reply, and the client
waits forever for its id. This transport reads bytes itself: invalid UTF-8 and unparsable lines are
answered with -32700, well-formed JSON that is not a JSON-RPC message with -32600, both carrying
the request's id when it can be read. Lone surrogates are valid JSON escapes, so they reach the tool,
whose validation answers with its usual message. Everything else is what the SDK does, including
moving fd 0/1 out of the way (to /dev/null and stderr) so stray prints cannot corrupt the wire.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import re
import sys
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, BinaryIO

import anyio
import mcp_types as types
from mcp.shared.message import SessionMessage
from pydantic import ValidationError

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

log = logging.getLogger(__name__)

# Only the start of a broken line is searched for its id (clients write "id" near the front).
_ID_SCAN_CHARS = 1 << 20
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)
_ID_VALUE = re.compile(r'\s*:\s*(-?\d{1,18})(?![\d.eE])|\s*:\s*("(?:[^"\\]|\\.){0,200}")')
# How long the last responses may take to reach stdout once the server has finished.
_DRAIN_SECONDS = 2.0
# After end of input: how long the requests already read may take to be answered.
_ANSWER_SECONDS = 30.0
# The longest line a socket client may send (stdin has no limit but memory).
_SOCKET_LINE_LIMIT = 256 * 1024 * 1024


async def run_stdio(server: MCPServer[Any]) -> None:
    """`server.run_stdio_async()`, over this module's transport."""
    lowlevel = server._lowlevel_server  # MCPServer has no public way to serve other streams
    async with stdio_transport() as (read_stream, write_stream):
        await lowlevel.run(read_stream, write_stream, lowlevel.create_initialization_options())


# --- parsing one line -----------------------------------------------------------------------------
def _request_id(value: Any) -> int | str | None:
    if isinstance(value, bool) or not isinstance(value, int | str):
        return None
    return value


def _sniff_id(text: str) -> int | str | None:
    """The top-level "id" of a line that did not parse, when one can be read before the break."""
    depth = 0
    head = text[:_ID_SCAN_CHARS]
    for token in _TOKEN.finditer(head):
        kind = token.group()
        if kind in "[{":
            depth += 1
        elif kind in "]}":
            depth -= 1
        elif depth == 1 and kind == '"id"':
            value = _ID_VALUE.match(head, token.end())
            if value is None:
                return None
            try:
                return _request_id(json.loads(value.group(1) or value.group(2)))
            except ValueError:
                return None
    return None


def _error_line(request_id: Any, code: int, message: str) -> bytes:
    reply = {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}}
    # ensure_ascii: an id holding a lone surrogate is still written as valid UTF-8.
    return json.dumps(reply, ensure_ascii=True, separators=(",", ":")).encode() + b"\n"


def _invalid_reason(record: dict[str, Any], exc: ValidationError) -> str:
    if record.get("jsonrpc") != "2.0":
        return 'it needs "jsonrpc": "2.0"'
    if "id" in record and _request_id(record["id"]) is None:
        return '"id" must be a string or an integer'
    if "method" in record and not isinstance(record["method"], str):
        return '"method" must be a string'
    if "params" in record and not isinstance(record["params"], dict):
        return '"params" must be an object'
    if "method" not in record and "result" not in record and "error" not in record:
        return 'it has no "method"'
    first = exc.errors()[0]
    return f"{'.'.join(str(p) for p in first['loc'][1:]) or 'message'}: {first['msg']}"


def parse_line(raw: bytes) -> SessionMessage | bytes | None:
    """One stdin line -> the message for the server, an error reply to write back, or None (blank
    lines, and broken responses or notifications, which JSON-RPC never answers)."""
    if not raw.strip():
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        request_id = _sniff_id(raw.decode("utf-8", errors="replace"))
        bad = raw[exc.start : exc.start + 1].hex()
        log.info("stdio: refused a line that is not UTF-8 (id %r)", request_id)
        return _error_line(
            request_id,
            types.PARSE_ERROR,
            f"Parse error: the message is not valid UTF-8 (byte 0x{bad} at offset {exc.start}); send UTF-8 text",
        )
    reason: str | None
    try:
        record = json.loads(text)
    except RecursionError:
        reason = (
            "it is nested too deeply to parse; flatten it (event_data and metadata allow ARCHON_MAX_JSON_DEPTH levels)"
        )
    except json.JSONDecodeError as exc:
        reason = f"{exc.msg} at column {exc.colno}"
    except ValueError:  # int("9" * 5000) is refused by Python itself
        reason = f"a number has more than {sys.get_int_max_str_digits()} digits; send it as a string"
    else:
        reason = None
    if reason is not None:
        request_id = _sniff_id(text)
        log.info("stdio: refused a line that is not JSON (id %r): %s", request_id, reason)
        return _error_line(request_id, types.PARSE_ERROR, f"Parse error: not valid JSON: {reason}")
    if not isinstance(record, dict):
        log.info("stdio: refused a JSON %s that is not a message", type(record).__name__)
        return _error_line(
            None,
            types.INVALID_REQUEST,
            f"Invalid Request: expected one JSON-RPC 2.0 message object, got a JSON {type(record).__name__}"
            " (batches are not supported)",
        )
    if "method" in record and record.get("id") is not None and _request_id(record["id"]) is None:
        # The SDK would take this for a notification and never answer; echo the id as sent.
        sent = record["id"]
        echo = sent if isinstance(sent, bool | int) or (isinstance(sent, float) and math.isfinite(sent)) else None
        log.info("stdio: refused a request with an invalid id %r", echo)
        return _error_line(echo, types.INVALID_REQUEST, 'Invalid Request: "id" must be a string or an integer')
    try:
        message = types.jsonrpc_message_adapter.validate_python(record, by_name=False)
    except ValidationError as exc:
        request_id = _request_id(record.get("id"))
        reason = _invalid_reason(record, exc)
        if "method" not in record and ("result" in record or "error" in record):
            log.warning("stdio: dropped a malformed response (id %r): %s", request_id, reason)
            return None
        if "method" in record and "id" not in record:
            log.warning("stdio: dropped a malformed notification: %s", reason)
            return None
        log.info("stdio: refused an invalid request (id %r): %s", request_id, reason)
        return _error_line(request_id, types.INVALID_REQUEST, f"Invalid Request: {reason}")
    return SessionMessage(message)


def _encode(message: SessionMessage) -> bytes:
    try:
        return message.message.model_dump_json(by_alias=True, exclude_unset=True).encode() + b"\n"
    except ValueError:  # a lone surrogate echoed back (an id, a tool name): escape it instead
        data = message.message.model_dump(mode="json", by_alias=True, exclude_unset=True)
        return json.dumps(data, ensure_ascii=True, separators=(",", ":")).encode() + b"\n"


# --- the process's standard streams ---------------------------------------------------------------
def _claim_std_streams() -> tuple[BinaryIO, BinaryIO, Callable[[], None]]:
    """Private duplicates of fd 0 and 1 for the protocol; fd 0 then reads /dev/null and fd 1 goes
    to stderr, so children and stray prints never touch the wire. Falls back to the streams in place."""
    try:
        import fcntl

        sys.stdout.flush()
        wire_in = fcntl.fcntl(0, fcntl.F_DUPFD_CLOEXEC, 3)
        wire_out = fcntl.fcntl(1, fcntl.F_DUPFD_CLOEXEC, 3)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        os.dup2(2, 1)
    except (ImportError, OSError):
        return sys.stdin.buffer, sys.stdout.buffer, lambda: None

    def restore() -> None:
        with contextlib.suppress(OSError):
            os.dup2(wire_in, 0)
            os.dup2(wire_out, 1)

    # closefd=False: the reader thread may still block on wire_in after the transport ends.
    return os.fdopen(wire_in, "rb", closefd=False), os.fdopen(wire_out, "wb", closefd=False), restore


def _start_reader(
    source: BinaryIO, loop: asyncio.AbstractEventLoop
) -> tuple[asyncio.Queue[bytes], threading.Semaphore]:
    """Reads lines in a daemon thread (an anyio worker thread blocked on stdin would keep the process
    alive at exit). The thread reads the next line only when one is asked for (`ready`), so
    a fast client is held back by the pipe, not buffered in memory. b"" is end of input."""
    lines: asyncio.Queue[bytes] = asyncio.Queue()
    ready = threading.Semaphore(0)  # released by each ask for a line

    def pump() -> None:
        raw = b""
        while True:
            ready.acquire()
            try:
                raw = source.readline()
            except (OSError, ValueError) as exc:
                log.debug("stdio: stdin closed: %s", exc)
                raw = b""
            try:
                loop.call_soon_threadsafe(lines.put_nowait, raw)
            except RuntimeError:  # the event loop is gone: the server has ended
                return
            if not raw:
                return

    threading.Thread(target=pump, name="archon-stdin", daemon=True).start()
    return lines, ready


def _nothing() -> None:
    return None


@contextlib.asynccontextmanager
async def stdio_transport(
    stdin: BinaryIO | None = None, stdout: BinaryIO | None = None
) -> AsyncIterator[tuple[Any, Any]]:
    """(read_stream, write_stream) for `Server.run`, like the SDK's `stdio_server`, over binary
    streams (default: the process's own stdin and stdout, claimed as the SDK does)."""
    restore: Callable[[], None] = _nothing
    if stdin is None or stdout is None:
        claimed_in, claimed_out, restore = _claim_std_streams()
        stdin, stdout = stdin or claimed_in, stdout or claimed_out
    wire_out = stdout
    lines, ready = _start_reader(stdin, asyncio.get_running_loop())

    async def next_line() -> bytes:
        ready.release()  # the reader thread may read the next line once this one is asked for
        return await lines.get()

    def write(data: bytes) -> None:
        wire_out.write(data)
        wire_out.flush()

    async def send(data: bytes) -> None:
        await anyio.to_thread.run_sync(write, data)

    try:
        async with line_transport(next_line, send) as streams:
            yield streams
    finally:
        restore()


@contextlib.asynccontextmanager
async def socket_transport(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> AsyncIterator[tuple[Any, Any]]:
    """The same transport over a connected stream socket (the shared server's clients, archon_mcp.hub)."""

    async def next_line() -> bytes:
        try:
            return await reader.readuntil(b"\n")
        except asyncio.IncompleteReadError as exc:
            return exc.partial  # the last line without its newline, then b"" (end of input)
        except asyncio.LimitOverrunError:
            raise OSError(f"a message is over {_SOCKET_LINE_LIMIT} bytes") from None
        except ConnectionError:
            return b""

    async def send(data: bytes) -> None:
        writer.write(data)
        await writer.drain()

    async with line_transport(next_line, send) as streams:
        yield streams


@contextlib.asynccontextmanager
async def line_transport(
    next_line: Callable[[], Awaitable[bytes]], send: Callable[[bytes], Awaitable[None]]
) -> AsyncIterator[tuple[Any, Any]]:
    """(read_stream, write_stream) over a source of lines (b"" = end of input) and a sink of bytes:
    every line is parsed by `parse_line`, and every line that cannot reach the server is answered."""
    read_writer, read_stream = anyio.create_memory_object_stream[SessionMessage | Exception](0)
    write_stream, write_reader = anyio.create_memory_object_stream[SessionMessage](0)
    out_lock = anyio.Lock()
    writer_done = anyio.Event()
    unanswered: set[int | str] = set()  # ids of the requests read and not answered yet
    answered = [anyio.Event()]  # set when one of them is

    async with anyio.create_task_group() as tg:

        async def emit(data: bytes) -> None:
            try:
                async with out_lock:
                    await send(data)
            except OSError as exc:  # the client closed its end: nobody is listening any more
                log.info("mcp: the client's end closed (%s); stopping", exc)
                tg.cancel_scope.cancel()

        async def reader() -> None:
            async with read_writer:
                while True:
                    try:
                        raw = await next_line()
                    except OSError as exc:
                        log.info("mcp: stopped reading (%s)", exc)
                        raw = b""
                    if not raw:
                        # End of input ends the session, and with it the requests still running:
                        # the ones already read get their answers first.
                        with anyio.move_on_after(_ANSWER_SECONDS):
                            while unanswered:
                                answered[0] = anyio.Event()
                                await answered[0].wait()
                        return
                    try:
                        outcome = parse_line(raw)
                    except Exception:  # a bug here must cost one message, not the connection
                        log.exception("mcp: could not read a message")
                        outcome = _error_line(None, types.INTERNAL_ERROR, "Internal error reading the message")
                    if isinstance(outcome, SessionMessage):
                        if isinstance(outcome.message, types.JSONRPCRequest):
                            unanswered.add(outcome.message.id)
                        await read_writer.send(outcome)
                    elif outcome is not None:
                        await emit(outcome)

        async def writer() -> None:
            try:
                async with write_reader:
                    async for message in write_reader:
                        if isinstance(message.message, types.JSONRPCResponse | types.JSONRPCError):
                            unanswered.discard(message.message.id)
                            answered[0].set()
                        await emit(_encode(message))
            finally:
                writer_done.set()

        tg.start_soon(reader)
        tg.start_soon(writer)
        try:
            yield read_stream, write_stream
        finally:
            # The server closes its write stream when it ends: let its last replies out.
            with anyio.move_on_after(_DRAIN_SECONDS, shield=True):
                await writer_done.wait()
            tg.cancel_scope.cancel()
