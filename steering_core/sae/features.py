"""Choose an SAE's harmful and safe latents on the source risk domains.

Inputs are per-prompt *token* activations at the SAE's site: a list of ``[T_i, D]`` tensors (one per
prompt, padding already removed; a ``[D]`` entry is a one-token prompt) or one ``[N, T, D]`` tensor.

Per prompt ``p`` and latent ``j`` let ``m_pj`` be the mean TopK/ReLU code (``sae.encode``) over the
prompt's tokens. The effect size of latent ``j`` is Cohen's d over prompts (sign: **unsafe minus
safe**, so harmful latents have d > 0)::

    d_j = (mean_{p unsafe} m_pj - mean_{p safe} m_pj) / sqrt(s_j^2 + eps)
    s_j^2 = ((n_u - 1) var_u(m_.j) + (n_s - 1) var_s(m_.j)) / (n_u + n_s - 2)    (pooled, unbiased)

``eps`` (default 1e-6, in squared code units of the SAE's normalised space where codes are O(1))
keeps a latent that never fires on either side at d = 0 and bounds d for a latent with zero
spread on both sides.

* harmful ``H``: the ``n_harmful`` latents with the largest d among those with ``d >= min_effect``
  (strongest first);
* safe ``S``: the ``n_safe`` latents with the most negative d among those with ``d <= -min_effect``;
* ``safe_profile_j = max(0, mean token code on safe prompts - mean token code on unsafe prompts)``
  (token-pooled means) for ``j`` in ``S``;
* ``harm_scale`` = mean over unsafe-prompt tokens with at least one active harmful latent of
  ``sum_{j in H} z_j`` (1.0 when no such token exists);
* ``fast_threshold``: the fast path (steering with ``D * |H|`` work per token) calls latent ``j``
  active where ``pre_j > fast_threshold_j``. For a ``topk`` SAE, ``theta_j >= 0`` maximises the
  agreement between ``pre_j > theta_j`` and ``TopK code_j > 0`` on the calibration tokens
  (:func:`calibrate_fast_thresholds`); ``relu`` uses 0 and ``jumprelu`` the SAE's own thresholds, so
  the fast path is exact for them.
"""

from __future__ import annotations

from typing import Iterator, Sequence

import torch

from ..errors import DimensionMismatchError, SafeSteerError
from .autoencoder import SafetyFeatures, SparseAutoencoder
from ..validation import require_finite

PromptActs = Sequence[torch.Tensor] | torch.Tensor
_CHUNK = 2048


# ------------------------------------------------------------------ inputs
def _prompts(acts: PromptActs, what: str, d_in: int) -> list[torch.Tensor]:
    """Normalise prompt activations to a list of float ``[T_i, D]`` tensors (checked)."""
    if isinstance(acts, torch.Tensor):
        if acts.ndim != 3:
            raise SafeSteerError(f"{what} must be a list of [T_i, D] tensors or one [N, T, D] tensor, got shape "
                                 f"{tuple(acts.shape)}; for one pooled vector per prompt pass acts[:, None, :].")
        prompts = list(acts.unbind(0))
    else:
        prompts = [torch.as_tensor(p) for p in acts]
        prompts = [p[None, :] if p.ndim == 1 else p for p in prompts]
    if not prompts:
        raise SafeSteerError(f"{what} is empty; give the token activations of at least one prompt.")
    for i, p in enumerate(prompts):
        if p.ndim != 2 or p.shape[0] < 1:
            raise SafeSteerError(f"{what}[{i}] must have shape [T, D] with T >= 1, got {tuple(p.shape)}.")
        if p.shape[1] != d_in:
            raise DimensionMismatchError(f"{what}[{i}] has activation size {p.shape[1]} but the SAE reads size {d_in}; "
                                         "record activations at the SAE's own site.")
        require_finite(p, f"{what}[{i}]")
    return prompts


def _flatten(prompts: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """All tokens ``[R, D]`` (float32, CPU) and each token's prompt index ``[R]``."""
    tokens = torch.cat([p.detach().to("cpu", torch.float32) for p in prompts])
    owner = torch.repeat_interleave(torch.arange(len(prompts)), torch.tensor([p.shape[0] for p in prompts]))
    return tokens, owner


@torch.no_grad()
def _encoded(sae: SparseAutoencoder, tokens: torch.Tensor) -> Iterator[tuple[slice, torch.Tensor, torch.Tensor]]:
    """Yield ``(rows, pre [r, M], codes [r, M])`` chunk by chunk, on the CPU in float32."""
    device = sae.W_enc.device
    for start in range(0, tokens.shape[0], _CHUNK):
        rows = slice(start, min(start + _CHUNK, tokens.shape[0]))
        pre = sae.pre_activations(tokens[rows].to(device))
        yield rows, pre.float().cpu(), sae.activate(pre).float().cpu()


def _mean_codes(sae: SparseAutoencoder, prompts: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Per-prompt mean codes ``[N, M]`` (float64), the token-pooled mean code ``[M]`` and the token count."""
    tokens, owner = _flatten(prompts)
    sums = torch.zeros(len(prompts), sae.d_sae, dtype=torch.float64)
    for rows, _, codes in _encoded(sae, tokens):
        sums.index_add_(0, owner[rows], codes.double())
    counts = torch.bincount(owner, minlength=len(prompts)).double()
    return sums / counts[:, None], sums.sum(0) / tokens.shape[0], tokens.shape[0]


# ------------------------------------------------------------------ effect sizes
def cohens_d(unsafe_means: torch.Tensor, safe_means: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Cohen's d per column, unsafe minus safe: ``[Nu, M]``, ``[Ns, M]`` -> ``[M]`` (float64).

    Pooled unbiased variance plus ``eps`` in the denominator (see the module docstring); needs
    ``Nu + Ns >= 3`` prompts.
    """
    nu, ns = unsafe_means.shape[0], safe_means.shape[0]
    if nu < 1 or ns < 1 or nu + ns < 3:
        raise SafeSteerError(f"Cohen's d needs at least one prompt per side and three in all, got {nu} unsafe and "
                             f"{ns} safe; give more prompts.")
    u, s = unsafe_means.double(), safe_means.double()
    ss_u = ((u - u.mean(0)) ** 2).sum(0)
    ss_s = ((s - s.mean(0)) ** 2).sum(0)
    pooled = (ss_u + ss_s) / (nu + ns - 2)
    return (u.mean(0) - s.mean(0)) / torch.sqrt(pooled + eps)


def effect_sizes(sae: SparseAutoencoder, safe_acts: PromptActs, unsafe_acts: PromptActs,
                 eps: float = 1e-6) -> torch.Tensor:
    """Cohen's d ``[M]`` (float32, unsafe minus safe) of every latent's per-prompt mean code."""
    safe_means, _, _ = _mean_codes(sae, _prompts(safe_acts, "safe_acts", sae.d_in))
    unsafe_means, _, _ = _mean_codes(sae, _prompts(unsafe_acts, "unsafe_acts", sae.d_in))
    return cohens_d(unsafe_means, safe_means, eps).float()


# ------------------------------------------------------------------ fast-path thresholds
def calibrate_fast_thresholds(pre: torch.Tensor, active: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per column, the threshold ``theta >= 0`` that best reproduces ``active`` as ``pre > theta``.

    ``pre [R, h]`` pre-activations, ``active [R, h]`` bool (TopK code > 0) -> ``(theta [h], agreement [h])``
    where agreement is the fraction of the R rows on which ``(pre > theta) == active``.

    Exact search: with the values ``max(pre, 0)`` sorted (``O(R log R)``), every distinct partition
    "at most the i-th value -> inactive" is scored with cumulative sums; its threshold is the midpoint
    between the i-th value and the next larger one (the largest value plus ``max(1, value)`` when all
    rows are called inactive; 0 when all are called active, which needs every value > 0). Clamping at 0
    changes nothing for ``theta >= 0``. Ties in agreement go to the smallest threshold (more recall).
    """
    if pre.shape != active.shape or pre.ndim != 2 or pre.shape[0] < 1:
        raise SafeSteerError(f"fast-threshold calibration needs pre-activations and active flags of the same shape "
                             f"[R, h] with R >= 1, got {tuple(pre.shape)} and {tuple(active.shape)}.")
    r, h = pre.shape
    values = pre.detach().double().cpu().clamp_min(0.0)
    sorted_vals, order = torch.sort(values, dim=0)
    labels = torch.gather(active.detach().cpu().bool(), 0, order)
    n_pos = labels.sum(0).double()
    cum_pos = labels.double().cumsum(0)
    cum_neg = (~labels).double().cumsum(0)
    cut = cum_neg + (n_pos - cum_pos)  # rows 0..i inactive, the rest active
    nxt = torch.cat([sorted_vals[1:], torch.full((1, h), float("inf"), dtype=torch.float64)])
    theta_cut = torch.where(torch.isinf(nxt), sorted_vals + torch.clamp(sorted_vals, min=1.0),
                            (sorted_vals + nxt) / 2)
    valid = sorted_vals < nxt
    score = torch.where(valid, cut, torch.full_like(cut, -1.0))
    all_on = torch.where(sorted_vals[0] > 0, n_pos, torch.full_like(n_pos, -1.0))
    score = torch.cat([all_on[None], score])
    thetas = torch.cat([torch.zeros(1, h, dtype=torch.float64), theta_cut])
    best = torch.argmax(score, dim=0)
    theta = thetas.gather(0, best[None])[0]
    agreement = score.gather(0, best[None])[0] / r
    return theta.float(), agreement.float()


# ------------------------------------------------------------------ selection
def _pick(scores: torch.Tensor, limit: float, count: int) -> torch.Tensor:
    """Indices of the ``count`` largest ``scores`` that are ``>= limit``, largest first."""
    eligible = torch.nonzero(scores >= limit).reshape(-1)
    order = torch.argsort(scores[eligible], descending=True, stable=True)
    return eligible[order][:count]


@torch.no_grad()
def select_safety_features(
    sae: SparseAutoencoder,
    safe_acts: PromptActs,
    unsafe_acts: PromptActs,
    n_harmful: int = 16,
    min_effect: float = 0.5,
    n_safe: int = 16,
    calibration_acts: torch.Tensor | None = None,
    categories: Sequence[str] | None = None,
    eps: float = 1e-6,
) -> SafetyFeatures:
    """Harmful and safe latents of ``sae`` from contrasting safe / unsafe prompts (module docstring).

    Args:
        sae: the SAE at the site the activations were recorded at.
        safe_acts, unsafe_acts: token activations per prompt (list of ``[T_i, D]`` or ``[N, T, D]``).
        n_harmful, n_safe: at most this many harmful / safe latents (``n_safe = 0``: none).
        min_effect: the smallest |Cohen's d| a latent needs to be chosen (> 0).
        calibration_acts: ``[R, D]`` tokens for the TopK fast-path thresholds (ideally held out, benign
            and unsafe mixed); default: every token of the given prompts.
        categories: names of the risk categories the prompts cover (recorded in ``stats``).
        eps: Cohen's d variance floor.

    Raises:
        SafeSteerError: no latent reaches ``min_effect`` (lower it, or give more / better-contrasted
            prompts), or the inputs are malformed.
    """
    if n_harmful < 1 or n_safe < 0:
        raise SafeSteerError(f"need n_harmful >= 1 and n_safe >= 0, got n_harmful={n_harmful}, n_safe={n_safe}.")
    if not min_effect > 0:
        raise SafeSteerError(f"min_effect must be positive (a Cohen's d), got {min_effect}.")
    safe_p = _prompts(safe_acts, "safe_acts", sae.d_in)
    unsafe_p = _prompts(unsafe_acts, "unsafe_acts", sae.d_in)
    safe_means, safe_token_mean, n_safe_tokens = _mean_codes(sae, safe_p)
    unsafe_means, unsafe_token_mean, n_unsafe_tokens = _mean_codes(sae, unsafe_p)
    d = cohens_d(unsafe_means, safe_means, eps)

    harmful = _pick(d, min_effect, n_harmful)
    if harmful.numel() == 0:
        raise SafeSteerError(
            f"no SAE latent separates unsafe from safe prompts with Cohen's d >= {min_effect} (largest d is "
            f"{float(d.max()):.3g}); lower min_effect, or give more prompts with a clearer safe/unsafe contrast.")
    safe = _pick(-d, min_effect, n_safe) if n_safe else torch.zeros(0, dtype=torch.long)
    safe_profile = (safe_token_mean - unsafe_token_mean)[safe].clamp_min(0.0)

    # harm_scale: unsafe tokens with an active harmful latent, mean total harmful code
    unsafe_tokens, _ = _flatten(unsafe_p)
    harm_sum, harm_n = 0.0, 0
    for _, _, codes in _encoded(sae, unsafe_tokens):
        zh = codes[:, harmful].double()
        on = (zh > 0).any(1)
        harm_sum += float(zh[on].sum())
        harm_n += int(on.sum())
    harm_scale = harm_sum / harm_n if harm_n else 1.0

    # fast-path thresholds and their agreement with the SAE's own codes
    if calibration_acts is None:
        calib, calib_source = torch.cat([_flatten(safe_p)[0], unsafe_tokens]), "prompt tokens"
    else:
        calib = torch.as_tensor(calibration_acts)
        if calib.ndim < 2 or calib.shape[-1] != sae.d_in or calib.numel() == 0:
            raise DimensionMismatchError(f"calibration_acts must have shape [R, {sae.d_in}], got {tuple(calib.shape)}.")
        calib = calib.reshape(-1, sae.d_in).detach().to("cpu", torch.float32)
        require_finite(calib, "calibration_acts")
        calib_source = "given"
    pre_h = torch.empty(calib.shape[0], harmful.numel())
    on_h = torch.empty(calib.shape[0], harmful.numel(), dtype=torch.bool)
    for rows, pre, codes in _encoded(sae, calib):
        pre_h[rows], on_h[rows] = pre[:, harmful], codes[:, harmful] > 0
    if sae.activation == "topk":
        theta, _ = calibrate_fast_thresholds(pre_h, on_h)
    elif sae.activation == "jumprelu":
        theta = sae.state_tensors()["threshold"][harmful].float().cpu()
    else:
        theta = torch.zeros(harmful.numel())
    fast_on = (pre_h > theta) & (pre_h > 0)
    per_latent = (fast_on == on_h).float().mean(0)

    stats: dict[str, object] = {
        "categories": list(categories) if categories is not None else None,
        "n_prompts": {"safe": len(safe_p), "unsafe": len(unsafe_p)},
        "n_tokens": {"safe": n_safe_tokens, "unsafe": n_unsafe_tokens},
        "min_effect": float(min_effect),
        "eps": float(eps),
        "n_candidates": {"harmful": int((d >= min_effect).sum()), "safe": int((d <= -min_effect).sum())},
        "safe_effect": [float(v) for v in d[safe]],
        "max_effect": float(d.max()),
        "harm_scale_tokens": harm_n,
        "fast_threshold_rule": {"topk": "calibrated", "relu": "zero", "jumprelu": "sae threshold"}[sae.activation],
        "calibration": calib_source,
        "n_calibration_tokens": int(calib.shape[0]),
        "fast_agreement": float((fast_on == on_h).all(1).float().mean()),
        "fast_gate_agreement": float((fast_on.any(1) == on_h.any(1)).float().mean()),
        "fast_agreement_per_latent": [float(v) for v in per_latent],
    }
    return SafetyFeatures(harmful=harmful, harmful_effect=d[harmful].float(), fast_threshold=theta, safe=safe,
                          safe_profile=safe_profile.float(), harm_scale=float(harm_scale), stats=stats)
