"""Store-wide tools: statistics and embedding backlog."""

from mcp.server.mcpserver import Context, MCPServer

from archon_mcp.config import Settings
from archon_mcp.schemas import StoreStats
from archon_mcp.tools._runtime import app_of, run_tool
from archon_mcp.tools.sessions import READ_ONLY


def register(server: MCPServer, settings: Settings) -> None:
    @server.tool(annotations=READ_ONLY)
    async def archon_get_stats(ctx: Context) -> StoreStats:
        """Counts of sessions (all, active) and events, how many are still waiting for an embedding
        (pending rows are stored and keyword-findable, and are retried until embedded), and which
        embedding model is in use."""
        app = await app_of(ctx)
        from archon_mcp.services.maintenance import store_stats

        return await run_tool(store_stats(app.database, app.embedder, app.worker))
