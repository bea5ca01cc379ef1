"""Decoder-only adaptation of an SAE to a target domain (another model's site, another data mix).

The encoder is frozen, so the codes (and with them which latents are harmful, their fast-path
thresholds and the steering gate) are exactly those of the source SAE. Only the decoder moves,
to reconstruct the *target's* activations from those codes. With ``s = input_scale``, codes
``z = encode(x)`` (computed without gradients) and ``X = s x`` the normalised activations::

    L(W, b) = mean_{tokens, dims} (z W + b - s x)^2  +  anchor * ||W - W_src||_F^2 / D

``W = W_dec [M, D]``, ``b = b_dec [D]``. ``anchor`` is an L2 pull toward the source decoder in
units of the code's second moment: the minimiser solves
``(Zc^T Zc / N + anchor I) W = Zc^T Xc / N + anchor W_src`` (``Zc, Xc`` centred), so an atom whose
code has ``E[z_j^2] >> anchor`` follows the target while a rarely used atom stays near its source
value. Atoms are **not** renormalised: the adapted decoder may rescale atoms to the target's
manifold (steering uses the atoms as they are: Repel solves with the actual ``G``, Blend decodes
with them).

Before training the copy's input bias is untied (``untie_input_bias``): the encoder then centres
with ``b_in``, a frozen copy of the source ``b_dec``, so ``b_dec`` can move and ``encode`` stays
bit-identical (the report checks this on the probe tokens: ``max_code_change`` is exactly 0.0).

What data to adapt on is the caller's choice. **Benign-only** adaptation (no unsafe activation of
the target model is ever recorded) means passing only benign target activations, e.g. through
:func:`benign_tokens`. Optimiser: Adam with a cosine learning-rate decay to 0 over ``steps``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Callable, Iterable, Sequence

import torch

from ..errors import DimensionMismatchError, SafeSteerError
from .autoencoder import SparseAutoencoder
from ..validation import require_finite


@dataclass(frozen=True)
class AdaptReport:
    """What decoder adaptation did, measured on held-out probe tokens of the target domain.

    ``mse_*``: mean squared reconstruction error per element in raw activation space;
    ``fvu_*``: fraction of variance unexplained, ``sum |x - x_hat|^2 / sum |x - mean(x)|^2``;
    ``max_code_change``: ``max |encode_after(probe) - encode_before(probe)|`` (0.0 by construction);
    ``atom_norm_mean``: mean L2 norm of the adapted atoms (source atoms are usually unit);
    ``atom_cosine_mean``: mean cosine between adapted and source atoms.
    """

    steps: int
    lr: float
    anchor: float
    batch_size: int
    n_train: int
    n_probe: int
    mse_before: float
    mse_after: float
    fvu_before: float
    fvu_after: float
    max_code_change: float
    final_loss: float
    atom_norm_mean: float
    atom_cosine_mean: float

    def to_dict(self) -> dict[str, object]:
        """JSON-able form (what :class:`~steering_core.sae.safety_sae.SiteSAE` ``info["adapted"]`` stores)."""
        return asdict(self)


def _rows(data: torch.Tensor | Iterable[torch.Tensor], d_in: int, what: str) -> torch.Tensor:
    """Concatenate activations (``[..., D]`` tensors) into ``[R, D]`` float32 on the CPU."""
    parts = [data] if isinstance(data, torch.Tensor) else list(data)
    flat = []
    for i, part in enumerate(parts):
        t = torch.as_tensor(part)
        if t.ndim < 1 or t.shape[-1] != d_in:
            raise DimensionMismatchError(f"{what} batch {i} has shape {tuple(t.shape)}, but the SAE reads activations "
                                         f"of size {d_in}; record them at the SAE's site.")
        flat.append(t.detach().reshape(-1, d_in).to("cpu", torch.float32))
    rows = torch.cat(flat) if flat else torch.zeros(0, d_in)
    require_finite(rows, what)
    return rows


def benign_tokens(acts: torch.Tensor | Sequence[torch.Tensor], benign: torch.Tensor | Sequence[bool]) -> torch.Tensor:
    """The token activations ``[R, D]`` of the prompts marked benign.

    ``acts``: one ``[N, D]`` / ``[N, T, D]`` tensor or a list of N ``[T_i, D]`` tensors (one per prompt);
    ``benign``: N booleans (True = benign). Pass the result to :func:`adapt_decoder` for benign-only
    adaptation.
    """
    mask = torch.as_tensor(benign, dtype=torch.bool).reshape(-1)
    n = acts.shape[0] if isinstance(acts, torch.Tensor) else len(acts)
    if mask.numel() != n:
        raise SafeSteerError(f"the benign mask has {mask.numel()} entries but there are {n} prompts; "
                             "give one per prompt.")
    if not bool(mask.any()):
        raise SafeSteerError("no prompt is marked benign; decoder adaptation needs benign target activations.")
    keep = [a for a, m in zip(acts, mask.tolist()) if m]
    d = keep[0].shape[-1]
    return torch.cat([torch.as_tensor(a).reshape(-1, d) for a in keep])


def _reconstruction(sae: SparseAutoencoder, x: torch.Tensor) -> tuple[float, float]:
    """(MSE per element in raw space, fraction of variance unexplained) of ``sae`` on ``x [R, D]``."""
    err = ((sae(x) - x) ** 2).double()
    var = ((x - x.mean(0)) ** 2).double().sum()
    return float(err.mean()), float(err.sum() / var) if float(var) > 0 else float("nan")


@torch.no_grad()
def _encode_chunks(sae: SparseAutoencoder, x: torch.Tensor, chunk: int = 4096) -> torch.Tensor:
    return torch.cat([sae.encode(x[i:i + chunk]) for i in range(0, x.shape[0], chunk)])


def adapt_decoder(
    sae: SparseAutoencoder,
    target_batches: torch.Tensor | Iterable[torch.Tensor],
    steps: int = 1000,
    lr: float = 1e-3,
    anchor: float = 1e-3,
    batch_size: int = 4096,
    seed: int = 0,
    probe: torch.Tensor | None = None,
    probe_fraction: float = 0.1,
    progress: Callable[[int, int], None] | None = None,
    device: torch.device | str | None = None,
) -> tuple[SparseAutoencoder, AdaptReport]:
    """Fit a copy's decoder (``W_dec``, ``b_dec``) to target activations; the encoder stays frozen.

    Args:
        sae: the source SAE (left unchanged).
        target_batches: target activations, one ``[..., D]`` tensor or an iterable of them (e.g. one
            ``[T_i, D]`` per benign prompt); all are concatenated into ``[R, D]`` tokens.
        steps, lr, batch_size: Adam steps (cosine-decayed learning rate) on minibatches of
            ``batch_size`` tokens (all training tokens each step when there are fewer).
        anchor: L2 pull toward the source decoder (module docstring); 0 disables it.
        seed: seeds the probe split and the minibatch sampling.
        probe: held-out ``[P, D]`` target tokens for the report; default: a ``probe_fraction`` split of
            the data (never trained on).
        progress: called as ``progress(done_steps, steps)``.
        device: where to train (default: the SAE's device); the result lives on the SAE's device.

    Returns:
        ``(adapted_copy, report)``.
    """
    if steps < 0 or not lr > 0 or anchor < 0 or batch_size < 1:
        raise SafeSteerError(f"need steps >= 0, lr > 0, anchor >= 0 and batch_size >= 1, got steps={steps}, lr={lr}, "
                             f"anchor={anchor}, batch_size={batch_size}.")
    data = _rows(target_batches, sae.d_in, "target activations")
    gen = torch.Generator().manual_seed(seed)
    if probe is None:
        if not 0.0 < probe_fraction < 1.0:
            raise SafeSteerError(f"probe_fraction must be in (0, 1), got {probe_fraction}.")
        if data.shape[0] < 2:
            raise SafeSteerError(f"decoder adaptation needs at least 2 target tokens (one held out), "
                                 f"got {data.shape[0]}.")
        perm = torch.randperm(data.shape[0], generator=gen)
        n_probe = min(data.shape[0] - 1, max(1, round(probe_fraction * data.shape[0])))
        probe_x, train = data[perm[:n_probe]], data[perm[n_probe:]]
    else:
        probe_x, train = _rows(probe, sae.d_in, "probe activations"), data
        if probe_x.shape[0] < 1 or train.shape[0] < 1:
            raise SafeSteerError("decoder adaptation needs at least one training and one probe token.")

    home = sae.W_dec.device
    run_on = torch.device(device) if device is not None else home
    source = sae
    adapted = sae.copy().to(run_on)
    adapted.untie_input_bias()
    grad_flags = {name: p.requires_grad for name, p in adapted.named_parameters()}
    for p in (adapted.W_enc, adapted.b_enc):
        p.requires_grad_(False)
    adapted.W_dec.requires_grad_(True)
    adapted.b_dec.requires_grad_(True)
    w_src = source.W_dec.detach().to(run_on, torch.float32).clone()

    with torch.no_grad():
        mse_before, fvu_before = _reconstruction(source, probe_x.to(home))
    optimiser = torch.optim.Adam([adapted.W_dec, adapted.b_dec], lr=lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda step: 0.5 * (1.0 + math.cos(math.pi * min(step, steps) / max(steps, 1))))
    full = train.shape[0] <= batch_size
    train_dev = train.to(run_on) if full else train
    scale, d = adapted.input_scale, adapted.d_in
    codes_full = _encode_chunks(adapted, train_dev) if full else None
    loss_value = float("nan")
    every = max(1, steps // 100)
    for step in range(steps):
        if codes_full is not None:
            xb, zb = train_dev, codes_full
        else:
            idx = torch.randint(0, train.shape[0], (batch_size,), generator=gen)
            xb = train[idx].to(run_on)
            with torch.no_grad():
                zb = adapted.encode(xb)
        optimiser.zero_grad(set_to_none=True)
        recon = zb @ adapted.W_dec + adapted.b_dec
        loss = ((recon - xb * scale) ** 2).mean()
        if anchor > 0:
            loss = loss + anchor * ((adapted.W_dec - w_src) ** 2).sum() / d
        loss.backward()
        optimiser.step()
        schedule.step()
        loss_value = float(loss.detach())
        if progress is not None and ((step + 1) % every == 0 or step + 1 == steps):
            progress(step + 1, steps)
    if not math.isfinite(loss_value) and steps > 0:
        raise SafeSteerError(f"decoder adaptation diverged (loss {loss_value}); lower lr (now {lr}).")

    for name, p in adapted.named_parameters():
        p.requires_grad_(grad_flags[name])
    adapted = adapted.to(home)
    with torch.no_grad():
        probe_home = probe_x.to(home)
        mse_after, fvu_after = _reconstruction(adapted, probe_home)
        code_change = float((_encode_chunks(adapted, probe_home) - _encode_chunks(source, probe_home)).abs().max())
        w_new, w_old = adapted.W_dec.detach(), source.W_dec.detach()
        norms = w_new.norm(dim=1)
        cos = (w_new * w_old).sum(1) / (norms * w_old.norm(dim=1)).clamp_min(1e-12)
    report = AdaptReport(steps=steps, lr=lr, anchor=anchor, batch_size=batch_size, n_train=int(train.shape[0]),
                         n_probe=int(probe_x.shape[0]), mse_before=mse_before, mse_after=mse_after,
                         fvu_before=fvu_before, fvu_after=fvu_after, max_code_change=code_change,
                         final_loss=loss_value, atom_norm_mean=float(norms.mean()),
                         atom_cosine_mean=float(cos.mean()))
    return adapted, report
