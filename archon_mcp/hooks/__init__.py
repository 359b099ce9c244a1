"""Client lifecycle hooks: sessions of Claude Code and Gemini CLI recorded without the model calling a tool.

- `archon-mcp hook claude-code` / `hook gemini-cli`: the hook command itself (`_client`, `_payload`);
- `archon-mcp hook daemon`: the helper process that stores what hooks send (`_daemon`);
- `archon-mcp hooks install|uninstall`: our entries in the client's settings file (`_install`).

Kept free of heavy imports: the hook command runs on every client event.
"""

HOOK_CLIENTS = ("claude-code", "gemini-cli")

__all__ = ["HOOK_CLIENTS"]
