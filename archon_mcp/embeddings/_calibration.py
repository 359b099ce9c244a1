"""Map a model's raw cosine similarity onto one scale, so a threshold means the same for every model.

Small sentence models put clearly related texts at a raw cosine of 0.35-0.65 and unrelated
ones below 0.10, while the seed's default threshold (0.7) assumes "clearly related" scores
about 0.7. For each known model we anchor two raw values: `floor` (unrelated) maps to 0 and
`anchor` (clearly related, the bottom of that band) maps to 0.7; above the anchor the
scale is linear up to 1.0. Unknown models are left as raw cosine (clipped to 0..1).
"""

from __future__ import annotations

# model -> (floor, anchor): measured on the retrieval evaluation set in bench/.
CALIBRATION: dict[str, tuple[float, float]] = {
    "all-MiniLM-L6-v2": (0.10, 0.35),
    "sentence-transformers/all-MiniLM-L6-v2": (0.10, 0.35),
    "text-embedding-3-small": (0.10, 0.45),
    "text-embedding-3-large": (0.10, 0.45),
}

ANCHOR_SCORE = 0.7


def calibrate(model: str, cosine: float) -> float:
    """Calibrated similarity in 0..1 for a raw cosine similarity from `model`."""
    points = CALIBRATION.get(model)
    if points is None:
        return min(1.0, max(0.0, cosine))
    floor, anchor = points
    if cosine <= floor:
        return 0.0
    if cosine <= anchor:
        return ANCHOR_SCORE * (cosine - floor) / (anchor - floor)
    return min(1.0, ANCHOR_SCORE + (1 - ANCHOR_SCORE) * (cosine - anchor) / (1 - anchor))
