"""`python -m archon_mcp` (and the `archon-mcp` script): the command line.

`hook claude-code` / `hook gemini-cli` take a fast path that imports neither typer nor the
settings, SQLAlchemy or the services: the client runs it on every hook event (archon_mcp.hooks).
So does `serve` over stdio: it relays to the shared server of its data dir (archon_mcp.relay), and
runs the whole server itself only when sharing is off or impossible."""

from __future__ import annotations

import sys

_STDIO: tuple[list[str], ...] = ([], ["-t", "stdio"], ["--transport", "stdio"], ["--transport=stdio"])


def main() -> None:
    argv = sys.argv[1:]
    if len(argv) == 2 and argv[0] == "hook" and argv[1] in ("claude-code", "gemini-cli"):
        from archon_mcp.hooks._client import run

        raise SystemExit(run(argv[1]))
    if argv and argv[0] == "serve" and argv[1:] in _STDIO:
        from archon_mcp.relay import relay

        status = relay()
        if status is not None:
            raise SystemExit(status)
    from archon_mcp.cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
