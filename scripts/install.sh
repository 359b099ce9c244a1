#!/usr/bin/env bash
# Creates .venv and installs archon-mcp with the offline embedding model.
#   scripts/install.sh          the server
#   scripts/install.sh --dev    the server plus test tools (pytest, hypothesis, ruff, MCP Inspector)
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
extras="local"
[[ "${1:-}" == "--dev" ]] && extras="local,dev"

if [[ ! -x .venv/bin/python ]]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip

# torch first and alone, so that it resolves to the CPU wheel (a plain `torch` can pull CUDA builds).
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  .venv/bin/python -m pip install --quiet "torch==2.13.0" \
    || .venv/bin/python -m pip install --quiet torch --index-url https://download.pytorch.org/whl/cpu
fi
.venv/bin/python -m pip install --quiet -e ".[${extras}]"

if [[ "$extras" == *dev* ]] && command -v npm >/dev/null 2>&1 && [[ ! -x .tools/node_modules/.bin/mcp-inspector ]]; then
  # The MCP Inspector CLI for the smoke test; the version is the newest that runs on node 20.
  npm install --prefix .tools --no-audit --no-fund --loglevel=error "@modelcontextprotocol/inspector@0.15.0" \
    || echo "warning: could not install the MCP Inspector; its smoke test will try npx" >&2
fi
echo "installed: $(.venv/bin/archon-mcp --version)" >&2
