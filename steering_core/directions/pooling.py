"""Pooling of token hidden states into one vector per prompt.

Shapes: ``hidden`` is ``[N, T, D]`` (N prompts, T tokens, D hidden size) and
``mask`` is ``[N, T]`` (True / 1 for real tokens, False / 0 for padding). The result is
``[N, D]``. Padding may sit on either side: "last k" means the last k *real* tokens.

Decoder LLMs put an *attention sink* on their first token and occasionally a *massive activation*
on a later one (SmolLM2-135M, layers 3-27: norm about 27,000 against about 150 for the other
tokens, in one channel). A plain mean over tokens is then nearly the same vector for every prompt.
The ``robust_*`` poolings leave those tokens out before averaging (:func:`outlier_token_mask`):

* the first real token of each prompt (unless it is the prompt's only real token), and
* every real token whose L2 norm exceeds ``OUTLIER_FACTOR`` (10) times the median norm of the
  prompt's real tokens after the first (a lower median: the middle value rounded down).

``auto`` is resolved by encoder kind (:func:`default_pooling`): ``mean`` for bidirectional encoders
(BERT, CLIP, T5), ``robust_mean`` for decoder LLMs. It is never stored in a file.
"""

from __future__ import annotations

from typing import Literal

import torch

from ..errors import SafeSteerError
from ..validation import require_ndim

Pooling = Literal["mean", "last_k", "pooled", "robust_mean", "robust_last_k"]
POOLING_CHOICES: tuple[str, ...] = ("mean", "last_k", "pooled", "robust_mean", "robust_last_k")
TOKEN_POOLINGS: tuple[str, ...] = ("mean", "last_k", "robust_mean", "robust_last_k")
"""Poolings of ``[N, T, D]`` token states (everything but "pooled")."""
AUTO = "auto"
OUTLIER_FACTOR = 10.0
"""A token whose norm is above this many times its prompt's median token norm is a massive activation."""
_DEFAULT_BY_KIND = {"encoder": "mean", "decoder": "robust_mean"}


class SinkDominatedWarning(UserWarning):
    """A plain mean / last-k pooling is dominated by attention-sink or massive-activation tokens."""


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


def outlier_token_mask(hidden: torch.Tensor, mask: torch.Tensor | None = None, factor: float = OUTLIER_FACTOR) -> torch.Tensor:
    """Real tokens that are neither the attention sink nor a massive activation: ``[N, T]`` bool.

    ``hidden [N, T, D]``, ``mask [N, T]`` (None = every token real). A token is dropped when it is
    the first real token of its prompt (when it has at least two real tokens), or when
    its L2 norm is above ``factor`` times the lower median norm of the prompt's real tokens after
    the first. At least one token per prompt is always kept (at least half of the tokens after the
    first are at or below their median).
    """
    require_ndim(hidden, (3,), "hidden states", "[N, T, D]")
    if factor <= 1.0:
        raise SafeSteerError(f"the massive-activation factor must be above 1, got {factor}.")
    keep = torch.ones(hidden.shape[:2], dtype=torch.bool, device=hidden.device) if mask is None else _check_mask(hidden, mask)
    real_count = keep.to(torch.int64).cumsum(1)
    first = keep & (real_count == 1)
    several = keep.sum(1, keepdim=True) > 1
    rest = keep & ~(first & several)  # a one-token prompt keeps its token for the median and the result
    norms = hidden.detach().to(torch.float32).norm(dim=-1)
    # Lower median per row over `rest`: NaN marks the excluded positions, nanquantile ignores them.
    masked = torch.where(rest, norms, torch.full_like(norms, float("nan")))
    median = torch.nanquantile(masked, 0.5, dim=1, keepdim=True, interpolation="lower")
    massive = rest & (norms > factor * median)
    return rest & ~massive


def massive_token_share(hidden: torch.Tensor, mask: torch.Tensor | None = None, factor: float = OUTLIER_FACTOR) -> torch.Tensor:
    """Per prompt, the share of the plain masked mean's squared norm that outlier tokens carry: ``[N]``.

    ``|sum of dropped tokens|^2 / (|sum of dropped|^2 + |sum of kept|^2)`` over real tokens, with the
    tokens :func:`outlier_token_mask` drops; near 1 means the plain mean is the sink's vector.
    """
    keep = outlier_token_mask(hidden, mask, factor)
    real = torch.ones_like(keep) if mask is None else _check_mask(hidden, mask)
    h = hidden.to(torch.float64)
    dropped = (h * (real & ~keep).unsqueeze(-1)).sum(1).norm(dim=-1) ** 2
    kept = (h * keep.unsqueeze(-1)).sum(1).norm(dim=-1) ** 2
    return (dropped / (dropped + kept).clamp(min=1e-300)).to(torch.float32)


def default_pooling(kind: str) -> str:
    """The pooling for an encoder kind: ``"encoder"`` -> ``"mean"``, ``"decoder"`` (causal LLM) -> ``"robust_mean"``."""
    try:
        return _DEFAULT_BY_KIND[kind]
    except KeyError:
        raise SafeSteerError(f"unknown encoder kind {kind!r}; expected one of {', '.join(_DEFAULT_BY_KIND)}.") from None


def resolve_pooling(pooling: str, kind: str | None) -> str:
    """``pooling`` itself, or for ``"auto"`` the default of the encoder ``kind`` (None counts as "encoder")."""
    if pooling == AUTO:
        return default_pooling(kind or "encoder")
    if pooling not in POOLING_CHOICES:
        raise SafeSteerError(f"unknown pooling {pooling!r}; choose {AUTO} or one of {', '.join(POOLING_CHOICES)}.")
    return pooling


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
    tokens, the universal-direction note's choice with k=5), "robust_mean" / "robust_last_k" (the
    same over the tokens :func:`outlier_token_mask` keeps: no attention sink, no massive
    activation; for decoder LLMs), or "pooled" (input is already one vector per prompt, e.g. a text
    encoder's pooled output). Resolve "auto" first with :func:`resolve_pooling`.
    """
    if pooling == AUTO:
        raise SafeSteerError("pooling 'auto' depends on the encoder; resolve it with resolve_pooling(pooling, encoder kind) first.")
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
    if pooling.startswith("robust_"):
        mask = outlier_token_mask(hidden, mask)
    if pooling in ("mean", "robust_mean"):
        return masked_mean(hidden, mask)
    return last_k_mean(hidden, mask, k)
