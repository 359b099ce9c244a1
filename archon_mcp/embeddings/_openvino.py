"""The same all-MiniLM-L6-v2 on OpenVINO, in bfloat16 where the CPU multiplies bfloat16 natively.

The ONNX export (`_onnx.ensure_exported`) is converted once more, to OpenVINO's own format with its
weights stored as float16 (half the file and the memory of float32), and cached beside the export.
On a CPU with native bfloat16 dot products (x86 with AVX512_BF16 or AMX: AMD Zen 4 and later, Intel
Xeon of the 4th generation and later) OpenVINO runs the matrix products in bfloat16 with float32
accumulation: about twice the texts per second of float32 on one core, and every vector stays within
cosine 0.9999 of sentence-transformers' float32 ones (docs/BENCHMARKS.md, tests/integration/
test_onnx_runtime.py), so stored vectors need no `reembed`. On other CPUs it runs float32, no faster
than ONNX Runtime and heavier, which is why the default runtime (`auto`) takes OpenVINO only where
bfloat16 is native.

The model is compiled twice: one copy embeds a search's queries, the other the background queue, so a
query never waits behind a batch of 16 texts. With one thread each (the default) the work runs on the
calling thread, so the queue keeps its lower priority (`_local.BACKGROUND_NICENESS`).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from archon_mcp.embeddings._local import ENCODE_BATCH
from archon_mcp.embeddings._onnx import OnnxEmbedder, TextBatches, _file_lock
from archon_mcp.errors import EmbeddingError

log = logging.getLogger(__name__)

# Bump when the conversion changes: the cached file's name includes it.
IR_FORMAT = 1


def precision_for(capabilities: Iterable[str]) -> str:
    """The inference precision that keeps today's vectors: bfloat16 only where the CPU has it natively
    (emulated bfloat16 is slower than float32), float32 everywhere else (not float16: the ARM default)."""
    return "bf16" if "BF16" in set(capabilities) else "f32"


def ir_path(onnx_file: Path) -> Path:
    return onnx_file.with_name(f"{onnx_file.stem}-openvino{IR_FORMAT}.xml")


def ensure_ir(onnx_file: Path) -> Path:
    """The OpenVINO model (.xml + .bin) converted from `onnx_file`, made first if missing (one process at a time)."""
    xml = ir_path(onnx_file)
    if xml.is_file() and xml.with_suffix(".bin").is_file():
        return xml
    with _file_lock(xml.with_name(xml.name + ".lock")):
        if xml.is_file() and xml.with_suffix(".bin").is_file():  # another process made it while we waited
            return xml
        import openvino as ov

        log.info("converting %s to OpenVINO's format (once; cached beside it)", onnx_file.name)
        tmp = xml.with_name(f".{xml.stem}.{os.getpid()}.xml")
        try:
            ov.save_model(ov.Core().read_model(str(onnx_file)), str(tmp), compress_to_fp16=True)
            # The .xml names no .bin: OpenVINO reads the .bin of the same stem. The .xml goes last, as the marker.
            os.replace(tmp.with_suffix(".bin"), xml.with_suffix(".bin"))
            os.replace(tmp, xml)
        except Exception as exc:
            raise EmbeddingError(f"could not convert the model to OpenVINO's format: {exc}") from exc
        finally:
            for leftover in (tmp, tmp.with_suffix(".bin")):
                leftover.unlink(missing_ok=True)
    return xml


class OpenVinoModel:
    """Tokenizer + two compiled copies of the model (queries, queue): texts in, unit vectors out (thread-safe)."""

    def __init__(self, model_dir: Path, ir_file: Path, *, threads: int, core: Any = None) -> None:
        import numpy as np
        import openvino as ov

        self._np = np
        core = core if core is not None else ov.Core()
        self.precision = precision_for(core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"))
        self.runtime = f"openvino-{self.precision}"
        model = core.read_model(str(ir_file))
        config = {"INFERENCE_PRECISION_HINT": self.precision, "INFERENCE_NUM_THREADS": threads, "NUM_STREAMS": 1}
        self._compiled = {background: core.compile_model(model, "CPU", config) for background in (False, True)}
        self._inputs = {port.get_any_name() for port in model.inputs}
        self.dimensions = int(model.outputs[0].get_partial_shape()[-1].get_length())
        self._batches = TextBatches(model_dir)
        self._requests = threading.local()  # an infer request is not shared between threads

    def _request(self, background: bool) -> Any:
        name = "background" if background else "query"
        request = getattr(self._requests, name, None)
        if request is None:
            request = self._compiled[background].create_infer_request()
            setattr(self._requests, name, request)
        return request

    def encode(
        self, texts: list[str], batch_size: int = ENCODE_BATCH, *, background: bool = False
    ) -> list[list[float]]:
        np = self._np
        request = self._request(background)
        out: list[list[float]] = [[] for _ in texts]
        for chunk, feed in self._batches(texts, batch_size, self._inputs):
            vectors = np.asarray(request.infer(feed)[0], dtype=np.float32)
            # The graph ends in a normalisation; in bfloat16 it is 1 +- 1e-3, so normalise again in float32.
            norms = np.linalg.norm(vectors, axis=1, keepdims=True)
            vectors = vectors / np.where(norms > 0, norms, 1.0)
            for i, vector in zip(chunk, vectors, strict=True):
                out[i] = vector.tolist()
        return out


def _openvino_model(model_dir: Path, onnx_file: Path, threads: int, core: Any = None) -> OpenVinoModel:
    return OpenVinoModel(model_dir, ensure_ir(onnx_file), threads=threads, core=core)


class OpenVinoEmbedder(OnnxEmbedder):
    """ARCHON_EMBEDDING_RUNTIME=openvino: OpenVINO always (float32 where the CPU has no native bfloat16)."""

    def _runtime(self, model_dir: Path, onnx_file: Path) -> Any:
        try:
            return _openvino_model(model_dir, onnx_file, self.threads)
        except ImportError as exc:
            raise EmbeddingError(
                "the openvino runtime needs openvino: pip install 'archon-mcp[local]', "
                "or set ARCHON_EMBEDDING_RUNTIME=onnx"
            ) from exc


class AutoEmbedder(OnnxEmbedder):
    """The default runtime: OpenVINO in bfloat16 where the CPU has it natively (about twice ONNX Runtime's
    throughput, the same vectors), ONNX Runtime anywhere else, or when OpenVINO is missing or fails."""

    def _runtime(self, model_dir: Path, onnx_file: Path) -> Any:
        try:
            import openvino as ov

            core = ov.Core()
            if precision_for(core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")) == "bf16":
                return _openvino_model(model_dir, onnx_file, self.threads, core)
        except ImportError:
            pass
        except Exception as exc:  # a broken install, a conversion that failed: ONNX Runtime still works
            log.warning("OpenVINO cannot run the model here (%s); using ONNX Runtime", exc)
        return super()._runtime(model_dir, onnx_file)
