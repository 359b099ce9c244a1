"""Export a sentence-transformers model (BERT-style encoder, mean pooling, L2 normalisation) to ONNX.

Run as `python -m archon_mcp.embeddings._export MODEL_DIR OUT.onnx` by the ONNX embedder the first
time it needs the file: in its own process, so that the process that embeds never imports torch.
The graph takes `input_ids`, `attention_mask`, `token_type_ids` and returns the pooled, normalised
vector, as sentence-transformers computes it. Before the file is put in place its vectors are
checked against sentence-transformers' own on a few texts (cosine >= `MIN_COSINE`).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

MIN_COSINE = 0.9999
OPSET = 17
CHECK_TEXTS = [
    "task completed: title: Fix the CI pipeline; outcome: green",
    "",
    "Привет, как дела? 日本語のテキスト 🙂",
    "long " * 400,
]


def export(model_dir: Path, out: Path) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import numpy as np
    import torch
    from transformers import AutoModel
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    transformers_logging.set_verbosity_error()
    torch.set_num_threads(1)
    # Eager attention: the SDPA path traces shape-dependent branches into the graph.
    encoder = AutoModel.from_pretrained(str(model_dir), attn_implementation="eager").eval()

    class Pooled(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids):
            hidden = self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    ids = torch.ones(2, 16, dtype=torch.long)
    axes = {"batch": 0, "tokens": 1}
    partial = out.with_name(f"{out.name}.{os.getpid()}.partial")
    import warnings

    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            Pooled(encoder),
            (ids, ids, torch.zeros_like(ids)),
            str(partial),
            input_names=["input_ids", "attention_mask", "token_type_ids"],
            output_names=["embedding"],
            dynamic_axes={
                "input_ids": {v: k for k, v in axes.items()},
                "attention_mask": {v: k for k, v in axes.items()},
                "token_type_ids": {v: k for k, v in axes.items()},
                "embedding": {0: "batch"},
            },
            opset_version=OPSET,
            dynamo=False,
        )
    try:
        from sentence_transformers import SentenceTransformer

        from archon_mcp.embeddings._onnx import OnnxModel

        expected = SentenceTransformer(str(model_dir), device="cpu").encode(CHECK_TEXTS, normalize_embeddings=True)
        got = np.asarray(OnnxModel(model_dir, partial, threads=1).encode(CHECK_TEXTS))
        worst = float((expected * got).sum(axis=1).min())
        if worst < MIN_COSINE:
            raise SystemExit(f"the exported model disagrees with sentence-transformers (cosine {worst:.5f})")
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit("usage: python -m archon_mcp.embeddings._export MODEL_DIR OUT.onnx")
    export(Path(sys.argv[1]), Path(sys.argv[2]))
