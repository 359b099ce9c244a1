#!/usr/bin/env bash
# Installs what the tests need (if missing) and runs the whole suite against an embedded
# PostgreSQL + pgvector that the tests start themselves. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh --dev
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
exec .venv/bin/python -m pytest "$@"
