"""Small helpers to call tools through the MCP client and fail with a readable message."""

from __future__ import annotations

from typing import Any


def _text(result: Any) -> str:
    return " ".join(getattr(block, "text", "") for block in result.content)


async def call(client: Any, tool: str, **arguments: Any) -> dict[str, Any]:
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, f"{tool}({arguments}) failed: {_text(result)}"
    assert result.structured_content is not None, f"{tool} returned no structured content"
    return result.structured_content


async def call_error(client: Any, tool: str, **arguments: Any) -> str:
    result = await client.call_tool(tool, arguments)
    assert result.is_error, f"{tool}({arguments}) should have failed but returned {result.structured_content}"
    message = _text(result)
    assert "Traceback" not in message
    return message
