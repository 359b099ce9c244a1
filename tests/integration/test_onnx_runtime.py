"""ONNX Runtime and OpenVINO give today's vectors (sentence-transformers on torch) and keep torch out."""

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
from archon_mcp.embeddings._onnx import OnnxEmbedder, ensure_exported, onnx_supported
from archon_mcp.embeddings._openvino import AutoEmbedder, OpenVinoEmbedder, ensure_ir, ir_path, precision_for
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


@pytest.fixture(scope="module")
async def torch_vectors() -> list[list[float]]:
    embedder = LocalEmbedder("all-MiniLM-L6-v2", 384)
    try:
        return await embedder.embed(varied_texts())
    finally:
        await embedder.aclose()


RUNTIMES = {"onnx": OnnxEmbedder, "openvino": OpenVinoEmbedder, "auto": AutoEmbedder}


@pytest.mark.parametrize("runtime", list(RUNTIMES))
async def test_vectors_match_sentence_transformers(
    runtime: str, cache_dir: Path, torch_vectors: list[list[float]]
) -> None:
    """Every runtime, in whatever precision it picks on this CPU (OpenVINO: bfloat16 where native)."""
    texts = varied_texts()
    assert len(texts) >= 300
    embedder = RUNTIMES[runtime]("all-MiniLM-L6-v2", 384, cache_dir=cache_dir)
    try:
        vectors = await embedder.embed(texts)
        queued = await embedder.embed(texts[-40:], background=True)  # OpenVINO: the queue's own compiled copy
        batched_alone = await embedder.embed([texts[-1]])  # padding of a batch must not change a vector
    finally:
        await embedder.aclose()
    cosines = [_cosine(a, b) for a, b in zip(torch_vectors, vectors, strict=True)]
    worst = min(range(len(texts)), key=cosines.__getitem__)
    assert cosines[worst] >= MIN_COSINE, (
        f"{embedder.runtime_in_use}: cosine {cosines[worst]:.6f} for {texts[worst][:80]!r}"
    )
    assert _cosine(batched_alone[0], vectors[-1]) >= 0.9999
    assert min(_cosine(a, b) for a, b in zip(queued, vectors[-40:], strict=True)) >= 0.9999
    assert all(len(v) == 384 and abs(sum(x * x for x in v) - 1) < 1e-4 for v in vectors), "unit vectors"
    assert embedder.runtime_in_use is not None and embedder.runtime_in_use.split("-")[0] in ("onnx", "openvino")


def test_openvino_precision_is_bfloat16_only_where_native() -> None:
    assert precision_for(["BF16", "FP32", "INT8"]) == "bf16"
    assert precision_for(["FP32", "INT8", "BIN"]) == "f32"
    assert precision_for(["FP32", "FP16", "INT8"]) == "f32"  # ARM: float16 is not today's vectors' precision
    assert precision_for([]) == "f32"


async def test_auto_takes_onnx_runtime_without_native_bfloat16_or_openvino(
    cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("archon_mcp.embeddings._openvino.precision_for", lambda capabilities: "f32")
    embedder = AutoEmbedder("all-MiniLM-L6-v2", 384, cache_dir=cache_dir)
    await embedder.embed(["a decision"])
    assert embedder.runtime_in_use == "onnx"
    monkeypatch.undo()
    monkeypatch.setitem(sys.modules, "openvino", None)  # not installed: importing it raises ImportError
    missing = AutoEmbedder("all-MiniLM-L6-v2", 384, cache_dir=cache_dir)
    await missing.embed(["a decision"])
    assert missing.runtime_in_use == "onnx"
    with pytest.raises(EmbeddingError, match="ARCHON_EMBEDDING_RUNTIME=onnx"):
        await OpenVinoEmbedder("all-MiniLM-L6-v2", 384, cache_dir=cache_dir).embed(["a decision"])


async def test_auto_falls_back_to_onnx_runtime_when_openvino_fails(
    cache_dir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(onnx_file: Path) -> Path:
        raise EmbeddingError("could not convert the model to OpenVINO's format: disk full")

    monkeypatch.setattr("archon_mcp.embeddings._openvino.precision_for", lambda capabilities: "bf16")
    monkeypatch.setattr("archon_mcp.embeddings._openvino.ensure_ir", broken)
    embedder = AutoEmbedder("all-MiniLM-L6-v2", 384, cache_dir=cache_dir)
    with caplog.at_level("WARNING", logger="archon_mcp.embeddings._openvino"):
        vectors = await embedder.embed(["a decision"])
    assert embedder.runtime_in_use == "onnx" and len(vectors[0]) == 384
    assert "disk full" in caplog.text and "using ONNX Runtime" in caplog.text
    with pytest.raises(EmbeddingError, match="disk full"):  # asked for by name: the error, not another runtime
        await OpenVinoEmbedder("all-MiniLM-L6-v2", 384, cache_dir=cache_dir).embed(["a decision"])


def test_openvino_conversion_is_made_once_and_whole(tmp_path: Path, cache_dir: Path) -> None:
    model_dir = Path(_resolve_model_path("all-MiniLM-L6-v2"))
    onnx_file = tmp_path / "model.onnx"
    onnx_file.write_bytes(ensure_exported(model_dir, cache_dir, "all-MiniLM-L6-v2").read_bytes())
    xml = ensure_ir(onnx_file)
    assert xml == ir_path(onnx_file) and xml.with_suffix(".bin").stat().st_size > 20_000_000  # float16 weights
    made = (xml.stat().st_mtime_ns, xml.with_suffix(".bin").stat().st_mtime_ns)
    assert ensure_ir(onnx_file) == xml
    assert (xml.stat().st_mtime_ns, xml.with_suffix(".bin").stat().st_mtime_ns) == made, "converted again"
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")) == sorted(
        ["model.onnx", xml.name, xml.with_suffix(".bin").name]
    ), "a conversion left temporary files"


@pytest.mark.parametrize("runtime", ["onnx", "auto"])
def test_a_process_on_onnx_or_openvino_never_imports_torch(runtime: str, tmp_path: Path, cache_dir: Path) -> None:
    code = (
        "import asyncio, json, sys\n"
        "from archon_mcp.config import Settings\n"
        "from archon_mcp.embeddings import create_embedder\n"
        "embedder = create_embedder(Settings())\n"
        "vectors = asyncio.run(embedder.embed(['hello', 'привет']))\n"
        "heavy = [m for m in ('torch', 'sentence_transformers', 'transformers') if m in sys.modules]\n"
        "print(json.dumps({'kind': type(embedder).__name__, 'dims': len(vectors[0]), 'heavy': heavy,\n"
        "                  'in_use': embedder.runtime_in_use}))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARCHON_")}
    env.update(
        ARCHON_MODEL_SERVER="false",
        ARCHON_EMBEDDING_RUNTIME=runtime,
        ARCHON_DATA_DIR=str(tmp_path),
        ARCHON_MODEL_CACHE_DIR=str(cache_dir),
        HF_HUB_OFFLINE="1",
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    kind = {"onnx": "OnnxEmbedder", "auto": "AutoEmbedder"}[runtime]
    assert {k: report[k] for k in ("kind", "dims", "heavy")} == {"kind": kind, "dims": 384, "heavy": []}, report
    assert report["in_use"] in (("onnx",) if runtime == "onnx" else ("onnx", "openvino-bf16")), report


def test_runtime_setting_picks_the_embedder(tmp_path: Path) -> None:
    kinds = {
        runtime: type(create_embedder(Settings(model_server=False, embedding_runtime=runtime, data_dir=tmp_path)))
        for runtime in ("auto", "openvino", "onnx", "torch")
    }
    assert {runtime: kind.__name__ for runtime, kind in kinds.items()} == {
        "auto": "AutoEmbedder", "openvino": "OpenVinoEmbedder", "onnx": "OnnxEmbedder", "torch": "LocalEmbedder"
    }  # fmt: skip
    assert Settings().embedding_runtime == "auto"
    with pytest.raises(ValueError, match="openvino"):
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
