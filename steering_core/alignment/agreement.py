"""Score agreement: a benign-only diagnostic of how well a map carries one direction.

Held-out R^2 of a map measures how well it predicts *every* target coordinate; a safety direction
needs only that the target reproduces the source's ordering of prompts *along that direction*.
For a source direction ``v`` (unsafe -> safe) and a map kind, the anchors are split into ``folds``
folds; for each fold a map is fitted on the other folds, ``v`` is transported (``t = unit(push(v))``)
and, on the held-out anchors, the source score ``(x - mean_x) . v`` is compared with the target
score ``y . t`` by Spearman rank correlation. The agreement is the fold-size weighted mean of those
correlations: 1 when the target ranks benign prompts along ``t`` exactly as the source ranks them
along ``v``, about 0 for an unrelated map. It uses benign anchors only (no unsafe prompt touches
the target) and every score comes from a map that never saw that anchor (cross-fitting).
"""

from __future__ import annotations

from typing import Any

import torch

from ..errors import SafeSteerError
from ..directions.metrics import _rankdata


def spearman(a: torch.Tensor, b: torch.Tensor) -> float:
    """Spearman rank correlation of two ``[M]`` score vectors (ties get average ranks); 0 if constant."""
    ra, rb = _rankdata(a.to(torch.float64)), _rankdata(b.to(torch.float64))
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denom = float(ra.norm() * rb.norm())
    return float((ra * rb).sum()) / denom if denom > 0 else 0.0


def score_agreement(
    source: torch.Tensor,
    target: torch.Tensor,
    directions: torch.Tensor,
    kind: str = "ridge",
    folds: int = 5,
    seed: int = 0,
    **fit_kwargs: Any,
) -> torch.Tensor:
    """Cross-fitted agreement ``[K]`` of source and transported scores on benign anchors.

    Args:
        source, target: paired anchor activations ``[N, Ds]``, ``[N, Dt]``.
        directions: ``[K, Ds]`` source directions (any norm; sign does not matter for the rank
            correlation's magnitude, but it is kept, so a map that flips a direction scores < 0).
        kind, fit_kwargs: the map and its settings, as for :func:`alignment.fit_alignment`.
        folds: cross-fitting folds (each map is fitted on ``(folds - 1) / folds`` of the anchors).
    """
    from .maps import fit_alignment

    x, y = source.to(torch.float64), target.to(torch.float64)
    v = directions.to(torch.float64).reshape(-1, x.shape[1])
    n = x.shape[0]
    if folds < 2 or n < 4 * folds:
        raise SafeSteerError(f"score agreement needs at least {4 * folds} anchors for {folds} folds, got {n}.")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    total = torch.zeros(v.shape[0], dtype=torch.float64)
    for f in range(folds):
        held = perm[f::folds]
        train = torch.cat([perm[g::folds] for g in range(folds) if g != f])
        fit_kwargs.setdefault("seed", seed)
        alignment = fit_alignment(x[train].to(torch.float32), y[train].to(torch.float32), kind, holdout=0, **fit_kwargs)
        pushed = alignment.push_vectors(v)
        units = pushed / pushed.norm(dim=1, keepdim=True).clamp_min(1e-300)
        src_scores = (x[held] - x[train].mean(0)) @ v.T
        tgt_scores = y[held] @ units.T.to(torch.float64)
        for k in range(v.shape[0]):
            total[k] += spearman(src_scores[:, k], tgt_scores[:, k]) * held.numel()
    return total / n
