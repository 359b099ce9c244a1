"""Shared by both tiers: offline model libraries and the anyio backend. The database and model
fixtures live in tests/integration/conftest.py, so tests/unit never starts PostgreSQL."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"
