"""archon-mcp: short-term memory for AI agents over MCP, on PostgreSQL + pgvector."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("archon-mcp")
except PackageNotFoundError:  # running from a checkout without installing
    __version__ = "0.0.0"

__all__ = ["__version__"]
