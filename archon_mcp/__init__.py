"""archon-mcp: short-term memory for AI agents over MCP, on PostgreSQL + pgvector."""

# The single source of the version (pyproject.toml reads it). A literal, not importlib.metadata:
# scanning the installed distributions cost ~60 ms of every start-up.
__version__ = "0.1.0"

__all__ = ["__version__"]
