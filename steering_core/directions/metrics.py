"""Scores and statistics: projections, exact AUROC, benign-only thresholds, R^2.

Sign convention: a safety direction points from unsafe toward safe, so a *higher*
projection means *safer*. A gate fires where the projection falls *below* its threshold.
"""

from __future__ import annotations

import torch

from ..errors import SafeSteerError
from ..validation import as_float_tensor, require_finite


def unit_rows(vectors: torch.Tensor, what: str = "direction") -> torch.Tensor:
    """Normalise each row of ``[K, D]`` (or a single ``[D]``) to unit L2 norm; zero rows are an error."""
    norms = vectors.norm(dim=-1, keepdim=True)
    if bool((norms == 0).any()):
        raise SafeSteerError(f"{what} has zero norm: safe and unsafe activations are identical, so no direction exists.")
    return vectors / norms


def projection_scores(activations: torch.Tensor, vectors: torch.Tensor) -> torch.Tensor:
    """Projection of activations onto unit directions.

    ``activations [..., D]``, ``vectors [D]`` or ``[K, D]`` (normalised here) -> ``[...]`` or ``[..., K]``.
    Computed in float32 or wider.
    """
    acts = as_float_tensor(activations, "activations")
    vecs = as_float_tensor(vectors, "direction")
    dtype = torch.promote_types(torch.promote_types(acts.dtype, vecs.dtype), torch.float32)
    unit = unit_rows(vecs.to(device=acts.device, dtype=dtype))
    if unit.shape[-1] != acts.shape[-1]:
        raise SafeSteerError(
            f"activations have hidden size {acts.shape[-1]} but the direction has {unit.shape[-1]}."
        )
    return acts.to(dtype) @ unit.transpose(-1, -2) if unit.ndim == 2 else acts.to(dtype) @ unit


def _rankdata(values: torch.Tensor) -> torch.Tensor:
    """1-based ranks with ties given their average rank (scipy.stats.rankdata 'average')."""
    order = torch.argsort(values, stable=True)
    sorted_vals = values[order]
    _, counts = torch.unique_consecutive(sorted_vals, return_counts=True)
    ends = counts.cumsum(0).to(torch.float64)
    starts = ends - counts.to(torch.float64) + 1.0
    avg = (starts + ends) / 2.0
    ranks_sorted = torch.repeat_interleave(avg, counts)
    ranks = torch.empty_like(ranks_sorted)
    ranks[order] = ranks_sorted
    return ranks


def auroc(positive_scores: object, negative_scores: object) -> float:
    """Exact area under the ROC curve: P(pos > neg) + 0.5 * P(pos == neg).

    Equal to the Mann-Whitney U statistic divided by ``n_pos * n_neg``; ties count one half.
    For a safety direction pass the safe prompts' projections as ``positive_scores``.
    """
    pos = as_float_tensor(positive_scores, "positive scores").detach().reshape(-1).to("cpu", torch.float64)
    neg = as_float_tensor(negative_scores, "negative scores").detach().reshape(-1).to("cpu", torch.float64)
    if pos.numel() == 0 or neg.numel() == 0:
        raise SafeSteerError("AUROC needs at least one positive and one negative score.")
    require_finite(pos, "positive scores")
    require_finite(neg, "negative scores")
    ranks = _rankdata(torch.cat([pos, neg]))
    n_pos, n_neg = pos.numel(), neg.numel()
    u = ranks[:n_pos].sum().item() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def calibrate_threshold(benign_scores: object, false_positive_rate: float = 0.05) -> float:
    """Gate threshold from benign prompts only.

    With the benign scores sorted, take the order statistic ``s_i`` at index ``i = floor(q * n)``
    (0-based, ``q = false_positive_rate``) and return the midpoint between it and the next lower
    distinct score (or, when ``s_i`` is the minimum, ``s_i`` minus half the gap to the next higher
    one). A gate ``score < threshold`` then fires on at most ``q * n`` of these benign prompts, and
    the margin keeps that true when the scores are recomputed in another precision.
    """
    if not 0.0 <= false_positive_rate < 1.0:
        raise SafeSteerError(f"false_positive_rate must be in [0, 1), got {false_positive_rate}.")
    scores = as_float_tensor(benign_scores, "benign scores").detach().reshape(-1).to("cpu", torch.float64)
    if scores.numel() == 0:
        raise SafeSteerError("threshold calibration needs at least one benign score.")
    require_finite(scores, "benign scores")
    distinct = torch.unique(scores)  # sorted ascending
    pivot = torch.sort(scores).values[int(false_positive_rate * scores.numel())]
    position = int(torch.searchsorted(distinct, pivot))
    if position > 0:
        return float((distinct[position - 1] + pivot) / 2)
    if distinct.numel() > 1:
        return float(pivot - (distinct[1] - pivot) / 2)
    return float(pivot - max(abs(float(pivot)), 1.0) * 1e-3)


def r_squared(target: torch.Tensor, prediction: torch.Tensor, reference_mean: torch.Tensor | None = None) -> float:
    """Pooled coefficient of determination over all output dimensions.

    ``1 - sum ||y - y_hat||^2 / sum ||y - mean||^2`` with ``target, prediction [N, D]``; ``mean`` is
    ``reference_mean`` (e.g. the training mean, for held-out data) or the target's own mean.
    """
    y = target.to(torch.float64)
    mean = y.mean(0) if reference_mean is None else reference_mean.to(torch.float64)
    sst = ((y - mean) ** 2).sum()
    sse = ((y - prediction.to(torch.float64)) ** 2).sum()
    if float(sst) == 0.0:
        raise SafeSteerError("R^2 is undefined: held-out targets have zero variance.")
    return float(1.0 - sse / sst)
