"""Universal safety direction: the dominant axis shared by several aligned directions.

Given n directions already transported into one space, stack their unit vectors ``[n, D]`` and
take the top right-singular vector. Its sign is fixed so that it agrees (positive cosine) with the
majority of the inputs (ties broken by the sum of cosines), keeping the unsafe -> safe convention.
"""

from __future__ import annotations

from typing import Sequence

import torch

from .direction import SafetyDirection
from ..errors import DimensionMismatchError, SafeSteerError
from ..validation import as_float_tensor


def _as_direction(item: SafetyDirection | object) -> SafetyDirection:
    if isinstance(item, SafetyDirection):
        return item
    return SafetyDirection.from_vectors(as_float_tensor(item, "direction"))


def universal_axis(unit_vectors: torch.Tensor) -> tuple[torch.Tensor, dict[str, object]]:
    """Top singular axis of ``[n, D]`` unit vectors with the majority sign; returns (axis [D], stats)."""
    m = unit_vectors.to(torch.float64)
    _, s, vh = torch.linalg.svd(m, full_matrices=False)
    axis = vh[0]
    cos = m @ axis
    agree = int((cos > 0).sum())
    if 2 * agree < m.shape[0] or (2 * agree == m.shape[0] and float(cos.sum()) < 0):
        axis, cos = -axis, -cos
    energy = s**2
    stats = {
        "cosines": [float(c) for c in cos],
        "mean_cosine": float(cos.mean()),
        "explained_variance": float(energy[0] / energy.sum()),
        "n_agree": int((cos > 0).sum()),
    }
    return axis, stats


def universal_direction(directions: Sequence[SafetyDirection | object], names: Sequence[str] | None = None) -> SafetyDirection:
    """SVD universal direction over ``n >= 2`` directions in one space.

    Each input is a SafetyDirection (or a ``[D]`` vector). When they share several categories,
    one universal axis is computed per shared category. The scale is the mean of the inputs'
    scales; ``info["universal"]`` holds per-input cosines and the explained variance ratio.
    """
    dirs = [_as_direction(d) for d in directions]
    if len(dirs) < 2:
        raise SafeSteerError(f"a universal direction needs at least 2 directions, got {len(dirs)}.")
    dims = {d.dim for d in dirs}
    if len(dims) != 1:
        raise DimensionMismatchError(
            f"directions live in spaces of different hidden sizes {sorted(dims)}; transport them into one "
            "space with an Alignment first."
        )
    shared = [c for c in dirs[0].categories if all(c in d.categories for d in dirs[1:])]
    if not shared:
        if all(d.num_categories == 1 for d in dirs):
            shared = [dirs[0].categories[0]]
            dirs = [d if d.categories == (shared[0],) else SafetyDirection.from_vectors(d.scaled_vectors, shared) for d in dirs]
        else:
            raise SafeSteerError("the directions share no category name; select matching categories first.")
    vectors, scales, report = [], [], {}
    for cat in shared:
        rows = torch.stack([d.vectors[d.index(cat)] for d in dirs])
        axis, stats = universal_axis(rows)
        vectors.append(axis)
        scales.append(float(torch.stack([d.scale[d.index(cat)] for d in dirs]).mean()))
        report[cat] = stats
    labels = list(names) if names is not None else [d.source_model or f"input{i}" for i, d in enumerate(dirs)]
    stacked = torch.stack(vectors).to(torch.float32)
    stacked = stacked / stacked.norm(dim=1, keepdim=True)
    first = dirs[0]
    return SafetyDirection(
        vectors=stacked, categories=tuple(shared), scale=torch.tensor(scales, dtype=torch.float32),
        pooling=first.pooling, layer=first.layer, source_model=first.source_model or "universal",
        info={"estimator": "universal_svd", "inputs": labels, "universal": report},
    )
