"""The ONNX runtime gives today's vectors (sentence-transformers on torch) and keeps torch out."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from archon_mcp.config import Settings
from archon_mcp.embeddings import create_embedder, event_text
from archon_mcp.embeddings._local import LocalEmbedder, _resolve_model_path
from archon_mcp.embeddings._onnx import OnnxEmbedder, onnx_supported
from archon_mcp.errors import EmbeddingError

pytestmark = pytest.mark.anyio

MIN_COSINE = 0.999
WORDS = [
    "deploy", "kubernetes", "migration", "rollback", "the", "a", "failed", "tests", "pipeline", "cache",
    "Übergröße", "naïve", "café", "données", "ошибка", "сервер", "日本語", "記憶", "数据库", "مرحبا", "🙂", "🚀",
    "x86_64", "v2.3.1", "NULL", "{}", "==", "-->", "$HOME", "id=42",
]  # fmt: skip


def varied_texts() -> list[str]:
    """A few hundred texts: events as the server embeds them, long ones cut at 256 tokens,
    near-empty ones, other scripts, code."""
    rng = random.Random(16)
    texts = ["", " ", "\n\t", "a", "?", "🙂", "...", "0", "ß"]
    texts += [
        "Привет, как дела? Сервер памяти перезапущен после ошибки миграции.",
        "日本語のテキストです。エージェントの短期記憶サーバー。",
        "数据库迁移失败，回滚到上一个版本。",
        "مرحبا بالعالم، تم نشر الخدمة",
        "Ünïcödé façade naïve résumé coöperate",
        "def f(x):\n    return {k: v for k, v in x.items() if v}\n",
        "SELECT * FROM session_events WHERE embedding <=> $1 < 0.3 ORDER BY created_at DESC;",
        "x" * 5000,
        "long text word " * 600,
        " ".join(f"token{i}" for i in range(1200)),
    ]
    for i in range(150):
        data = {"title": " ".join(rng.choices(WORDS, k=rng.randint(1, 12))), "step": i}
        if i % 3 == 0:
            data["details"] = {"files": [f"src/mod_{j}.py" for j in range(rng.randint(0, 6))], "ok": i % 2 == 0}
        texts.append(event_text(rng.choice(["task_created", "decision_made", "error_encountered"]), data))
    for _ in range(140):
        texts.append(" ".join(rng.choices(WORDS, k=rng.randint(1, 450))))
    return texts


@pytest.fixture(scope="module")
def cache_dir() -> Path:
    return Settings().model_cache_dir


def _cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norm = (sum(x * x for x in a) * sum(y * y for y in b)) ** 0.5
    return dot / norm


async def test_onnx_vectors_match_sentence_transformers(cache_dir: Path) -> None:
    texts = varied_texts()
    assert len(texts) >= 300
    torch_vectors = await LocalEmbedder("all-MiniLM-L6-v2", 384).embed(texts)
    onnx = OnnxEmbedder("all-MiniLM-L6-v2", 384, cache_dir=cache_dir)
    try:
        onnx_vectors = await onnx.embed(texts)
        batched_alone = await onnx.embed([texts[-1]])  # padding of a batch must not change a vector
    finally:
        await onnx.aclose()
    cosines = [_cosine(a, b) for a, b in zip(torch_vectors, onnx_vectors, strict=True)]
    worst = min(range(len(texts)), key=cosines.__getitem__)
    assert cosines[worst] >= MIN_COSINE, f"cosine {cosines[worst]:.6f} for {texts[worst][:80]!r}"
    assert _cosine(batched_alone[0], onnx_vectors[-1]) >= 0.9999
    assert all(len(v) == 384 for v in onnx_vectors)


def test_a_process_on_onnx_never_imports_torch(tmp_path: Path, cache_dir: Path) -> None:
    code = (
        "import asyncio, json, sys\n"
        "from archon_mcp.config import Settings\n"
        "from archon_mcp.embeddings import create_embedder\n"
        "embedder = create_embedder(Settings())\n"
        "vectors = asyncio.run(embedder.embed(['hello', 'привет']))\n"
        "heavy = [m for m in ('torch', 'sentence_transformers', 'transformers') if m in sys.modules]\n"
        "print(json.dumps({'kind': type(embedder).__name__, 'dims': len(vectors[0]), 'heavy': heavy,\n"
        "                  'ort': 'onnxruntime' in sys.modules}))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARCHON_")}
    env.update(
        ARCHON_MODEL_SERVER="false",
        ARCHON_EMBEDDING_RUNTIME="onnx",
        ARCHON_DATA_DIR=str(tmp_path),
        ARCHON_MODEL_CACHE_DIR=str(cache_dir),
        HF_HUB_OFFLINE="1",
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report == {"kind": "OnnxEmbedder", "dims": 384, "heavy": [], "ort": True}, report


def test_runtime_setting_picks_the_embedder(tmp_path: Path) -> None:
    onnx = create_embedder(Settings(model_server=False, embedding_runtime="onnx", data_dir=tmp_path))
    torch = create_embedder(Settings(model_server=False, embedding_runtime="torch", data_dir=tmp_path))
    assert (type(onnx).__name__, type(torch).__name__) == ("OnnxEmbedder", "LocalEmbedder")
    assert Settings().embedding_runtime == "onnx"
    with pytest.raises(ValueError, match="onnx"):
        Settings(embedding_runtime="tensorflow")  # type: ignore[arg-type]


async def test_onnx_refuses_a_model_it_cannot_reproduce(tmp_path: Path) -> None:
    model_dir = tmp_path / "cls-pooled"
    (model_dir / "1_Pooling").mkdir(parents=True)
    (model_dir / "modules.json").write_text(
        json.dumps([{"type": f"sentence_transformers.models.{t}"} for t in ("Transformer", "Pooling", "Normalize")])
    )
    (model_dir / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_cls_token": True}))
    (model_dir / "tokenizer.json").write_text("{}")
    assert onnx_supported(Path(_resolve_model_path("all-MiniLM-L6-v2")))
    assert not onnx_supported(model_dir)
    with pytest.raises(EmbeddingError, match="ARCHON_EMBEDDING_RUNTIME=torch"):
        await OnnxEmbedder(str(model_dir), 384, cache_dir=tmp_path / "cache").embed(["hello"])
