"""Pooling of token hidden states into one vector per prompt.

Shapes: ``hidden`` is ``[N, T, D]`` (N prompts, T tokens, D hidden size) and
``mask`` is ``[N, T]`` (True / 1 for real tokens, False / 0 for padding). The result is
``[N, D]``. Padding may sit on either side: "last k" means the last k *real* tokens.
"""

from __future__ import annotations

from typing import Literal

import torch

from .errors import SafeSteerError
from .validation import require_ndim

Pooling = Literal["mean", "last_k", "pooled"]
POOLING_CHOICES: tuple[str, ...] = ("mean", "last_k", "pooled")


def _weights(mask: torch.Tensor) -> torch.Tensor:
    if mask.dtype == torch.bool:
        return mask
    return mask != 0


def masked_mean(hidden: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean over real tokens. ``hidden [N, T, D]``, ``mask [N, T]`` -> ``[N, D]``."""
    require_ndim(hidden, (3,), "hidden states", "[N, T, D]")
    if mask is None:
        return hidden.mean(dim=1)
    keep = _check_mask(hidden, mask)
    w = keep.to(hidden.dtype).unsqueeze(-1)
    return (hidden * w).sum(dim=1) / w.sum(dim=1)


def last_k_mean(hidden: torch.Tensor, mask: torch.Tensor | None = None, k: int = 5) -> torch.Tensor:
    """Mean of the last ``k`` real tokens of each prompt (all of them if a prompt is shorter).

    ``hidden [N, T, D]``, ``mask [N, T]`` -> ``[N, D]``.
    """
    require_ndim(hidden, (3,), "hidden states", "[N, T, D]")
    if k < 1:
        raise SafeSteerError(f"last-k pooling needs k >= 1, got k={k}.")
    if mask is None:
        return hidden[:, -k:].mean(dim=1)
    keep = _check_mask(hidden, mask)
    # rank_from_end counts real tokens at or after each position: 1 for the last real token.
    rank_from_end = keep.flip(1).to(torch.int64).cumsum(1).flip(1)
    chosen = keep & (rank_from_end <= k)
    w = chosen.to(hidden.dtype).unsqueeze(-1)
    return (hidden * w).sum(dim=1) / w.sum(dim=1)


def _check_mask(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    if tuple(mask.shape) != tuple(hidden.shape[:2]):
        raise SafeSteerError(
            f"attention mask must have shape [N, T] = {tuple(hidden.shape[:2])} to match the hidden states, "
            f"got {tuple(mask.shape)}."
        )
    keep = _weights(mask.to(hidden.device))
    empty = ~keep.any(dim=1)
    if bool(empty.any()):
        rows = torch.nonzero(empty).flatten().tolist()[:5]
        raise SafeSteerError(f"attention mask has no real token for prompt(s) {rows}; drop empty prompts first.")
    return keep


def pool(
    hidden: torch.Tensor,
    mask: torch.Tensor | None = None,
    pooling: str = "mean",
    k: int = 5,
) -> torch.Tensor:
    """Pool ``[N, T, D]`` states to ``[N, D]``; ``[N, D]`` input is returned as is.

    ``pooling``: "mean" (masked mean over real tokens), "last_k" (mean of the last ``k`` real
    tokens, the universal-direction note's choice with k=5), or "pooled" (input is already one
    vector per prompt, e.g. a text encoder's pooled output).
    """
    if pooling not in POOLING_CHOICES:
        raise SafeSteerError(f"unknown pooling {pooling!r}; choose one of {', '.join(POOLING_CHOICES)}.")
    if hidden.ndim == 2:
        if mask is not None and pooling != "pooled":
            raise SafeSteerError("got pooled [N, D] vectors together with a token mask; pass the [N, T, D] states instead.")
        return hidden
    if pooling == "pooled":
        raise SafeSteerError(
            f"pooling='pooled' expects [N, D] vectors, got token states of shape {tuple(hidden.shape)}; "
            "use pooling='mean' or 'last_k'."
        )
    if pooling == "mean":
        return masked_mean(hidden, mask)
    return last_k_mean(hidden, mask, k)
