"""Train a TopK sparse autoencoder (Gao et al. 2024) on streamed activations, resumably.

Shapes: ``D`` = activation size, ``M`` = dictionary size, ``B`` = batch size. All losses live in
the SAE's normalised space ``xs = x * input_scale`` (see steering_core.sae.autoencoder).

Initialisation (on ``init_sample`` rows drawn with ``dataset.sample``):

* ``input_scale = sqrt(D / mean ||x||^2)``, so scaled activations have mean squared norm ``D``;
* ``b_dec`` = the geometric median of the scaled sample (Weiszfeld, :func:`geometric_median`);
* unit random atoms ``W_dec [M, D]`` and ``W_enc = W_dec^T`` (the SparseAutoencoder constructor).

One step on a batch ``x [B, D]``:

* ``pre = (xs - b_dec) @ W_enc + b_enc``; ``z`` = TopK(pre) then ReLU; ``x_hat = z @ W_dec + b_dec``;
* ``mse = sum (x_hat - xs)^2 / sum (xs - mean_batch(xs))^2``: the batch's fraction of variance
  unexplained (0 = perfect, 1 = no better than the batch mean);
* AuxK (Gao et al. App. B.1, as in SAELens / EleutherAI sparsify): latents that have not fired for
  ``dead_after_tokens`` tokens are *dead*; the ``k_aux = min(aux_k, n_dead)`` largest dead
  pre-activations (no ReLU) reconstruct the detached residual ``e = xs - x_hat`` through the
  decoder without bias, ``aux = min(n_dead / aux_k, 1) * sum (z_aux @ W_dec - e)^2 / (same denominator)``;
* ``loss = mse + aux_coef * aux``; Adam; with ``renorm`` the component of each ``W_dec`` gradient row
  parallel to its (unit) atom is removed before the step and the atoms are rescaled to unit norm
  after it. ``b_dec`` stays tied as the encoder's input centering throughout.

Batches come from ``dataset.iter_batches(batch_size, seed, epoch, start_batch, drop_last=True)``, so
step ``s`` always reads batch ``s mod n`` of epoch ``s div n`` (``n`` batches per epoch). A
checkpoint (SafeSteer file of kind ``SAETrainingState``) stores the SAE, Adam's moments and step
counts, the per-latent tokens-since-fired and fire counts, the step/epoch/batch counters and the
config, so stopping at any step and resuming gives bit-identical weights to an uninterrupted run
on the same device. ``steps``, ``epochs`` and ``checkpoint_every`` may change between runs (there
is no learning-rate schedule, so they do not change the trajectory); any other setting must match.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import torch

from .activation_shards import BatchSource, InMemoryActivations
from ..errors import SafeSteerError, SafeSteerFileError
from ..files.format import FileHeader, decode_json, encode_json, read_safesteer_file, write_safesteer_file
from .autoencoder import SparseAutoencoder
from .safety_sae import check_sae_config
from ..validation import require_finite

KIND = "SAETrainingState"
_PARAMS = ("W_enc", "b_enc", "W_dec", "b_dec")
_RUN_LENGTH_FIELDS = ("steps", "epochs", "checkpoint_every")

__all__ = ["InMemoryActivations", "SAETrainConfig", "TrainReport", "geometric_median", "train_sae"]

Progress = Callable[[int, int, dict[str, float]], None]


@dataclass
class SAETrainConfig:
    """Settings of one TopK SAE training run.

    Attributes:
        k: active latents per token.
        d_sae: dictionary size ``M``; None means ``expansion * D``.
        expansion: ``M / D`` when ``d_sae`` is None.
        batch_size: tokens per step (the last partial batch of an epoch is dropped).
        steps: optimiser steps; None means ``epochs`` passes over the data (1 when both are None).
        epochs: passes over the data when ``steps`` is None (fractions allowed).
        lr: Adam learning rate; None means ``2e-4 / sqrt(M / 2**14)`` (Gao et al.'s scaling law fit).
        betas, adam_eps: Adam's moment decays and epsilon (Gao et al. use eps = 6.25e-10).
        aux_k: dead latents used by AuxK; None means ``D // 2`` (at least 1, at most M).
        aux_coef: weight of the AuxK loss (1/32).
        dead_after_tokens: a latent that has not fired for this many tokens is dead.
        seed: seeds the SAE's initial atoms, the init sample and the data order.
        checkpoint_every: steps between checkpoints (0: only at the end); needs a checkpoint path.
        renorm: project the decoder gradient orthogonal to each atom and renormalise atoms.
        init_sample: rows used to estimate the input scale and the geometric median.
        median_iters: Weiszfeld iterations for ``b_dec``'s initialisation.
    """

    k: int = 32
    d_sae: int | None = None
    expansion: int = 8
    batch_size: int = 4096
    steps: int | None = None
    epochs: float | None = None
    lr: float | None = None
    betas: tuple[float, float] = (0.9, 0.999)
    adam_eps: float = 6.25e-10
    aux_k: int | None = None
    aux_coef: float = 1.0 / 32.0
    dead_after_tokens: int = 10_000_000
    seed: int = 0
    checkpoint_every: int = 1000
    renorm: bool = True
    init_sample: int = 16384
    median_iters: int = 100

    def __post_init__(self) -> None:
        self.betas = (float(self.betas[0]), float(self.betas[1]))
        checks = [("k", self.k >= 1), ("expansion", self.expansion >= 1), ("batch_size", self.batch_size >= 1),
                  ("steps", self.steps is None or self.steps >= 0), ("epochs", self.epochs is None or self.epochs > 0),
                  ("lr", self.lr is None or self.lr > 0), ("betas", all(0 <= b < 1 for b in self.betas)),
                  ("adam_eps", self.adam_eps > 0), ("aux_k", self.aux_k is None or self.aux_k >= 1),
                  ("aux_coef", self.aux_coef >= 0), ("dead_after_tokens", self.dead_after_tokens >= 1),
                  ("seed", self.seed >= 0), ("checkpoint_every", self.checkpoint_every >= 0),
                  ("init_sample", self.init_sample >= 1), ("median_iters", self.median_iters >= 0),
                  ("d_sae", self.d_sae is None or self.d_sae >= 1)]
        bad = [name for name, ok in checks if not ok]
        if bad:
            raise SafeSteerError(f"SAETrainConfig: invalid {', '.join(bad)} ({', '.join(f'{b}={getattr(self, b)!r}' for b in bad)}); "
                                 "sizes and counts must be positive, betas in [0, 1).")

    def resolved_d_sae(self, d_in: int) -> int:
        return int(self.d_sae) if self.d_sae is not None else int(self.expansion * d_in)

    def resolved_lr(self, d_sae: int) -> float:
        return float(self.lr) if self.lr is not None else 2e-4 / math.sqrt(d_sae / 2 ** 14)

    def resolved_aux_k(self, d_in: int, d_sae: int) -> int:
        return min(int(self.aux_k) if self.aux_k is not None else max(d_in // 2, 1), d_sae)

    def total_steps(self, rows: int) -> int:
        if self.steps is not None:
            return int(self.steps)
        return math.floor((self.epochs if self.epochs is not None else 1.0) * (rows // self.batch_size))

    def to_json(self) -> dict[str, object]:
        return json.loads(json.dumps(asdict(self)))

    def trajectory_settings(self) -> dict[str, object]:
        """The settings a resumed run must share with its checkpoint (all but the run length)."""
        return {k: v for k, v in self.to_json().items() if k not in _RUN_LENGTH_FIELDS}


@dataclass
class TrainReport:
    """What a training run did. ``normalized_mse`` and ``l0`` are measured after training on
    ``eval_rows`` rows drawn with ``dataset.sample(eval_rows, seed + 1)``; ``fraction_dead`` uses the
    dead criterion (no fire for ``dead_after_tokens`` tokens), ``fraction_never_fired`` counts
    latents that never fired during training; ``tokens_per_second`` covers this call's steps only;
    ``last_step`` holds the training metrics of the last step run in this call (empty if none)."""

    steps: int
    total_steps: int
    tokens: int
    epochs: float
    normalized_mse: float
    l0: float
    fraction_dead: float
    fraction_never_fired: float
    tokens_per_second: float
    seconds: float
    resumed_from_step: int
    lr: float
    d_sae: int
    k: int
    input_scale: float
    eval_rows: int
    last_step: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def geometric_median(points: torch.Tensor, iters: int = 200, eps: float = 1e-8) -> torch.Tensor:
    """The point minimising the sum of Euclidean distances to ``points [N, D]`` -> ``[D]``.

    Weiszfeld's iteration from the mean, in float64: ``y <- sum_i x_i / d_i / sum_i 1 / d_i`` with
    ``d_i = max(|x_i - y|, eps)``; stops after ``iters`` updates or when a step moves less than
    ``eps * (1 + |y|)``. Returned in the input's floating dtype.
    """
    if points.ndim != 2 or points.shape[0] == 0:
        raise SafeSteerError(f"geometric_median needs points of shape [N, D] with N >= 1, got {tuple(points.shape)}.")
    require_finite(points, "points")
    x = points.detach().to(torch.float64)
    y = x.mean(0)
    for _ in range(int(iters)):
        w = 1.0 / (x - y).norm(dim=1).clamp_min(eps)
        new = (w[:, None] * x).sum(0) / w.sum()
        moved = float((new - y).norm())
        y = new
        if moved <= eps * (1.0 + float(y.norm())):
            break
    return y.to(points.dtype if points.is_floating_point() else torch.float32)


# ---------------------------------------------------------------------------------- checkpoints
@dataclass
class _State:
    sae: SparseAutoencoder
    adam: dict[str, dict[str, torch.Tensor]]
    since_fired: torch.Tensor
    fire_counts: torch.Tensor
    step: int
    tokens: int


def _save_checkpoint(path: Path, config: SAETrainConfig, sae: SparseAutoencoder, opt: torch.optim.Adam,
                     since_fired: torch.Tensor, fire_counts: torch.Tensor, step: int, tokens: int,
                     batches_per_epoch: int, rows: int) -> None:
    tensors: dict[str, torch.Tensor] = {f"sae.{k}": v for k, v in sae.state_tensors().items()}
    params = dict(zip(_PARAMS, (sae.W_enc, sae.b_enc, sae.W_dec, sae.b_dec)))
    for name, p in params.items():
        st = opt.state.get(p, {})
        for key in ("exp_avg", "exp_avg_sq", "step"):
            if key in st:
                t = st[key]
                tensors[f"adam.{name}.{key}"] = t.reshape(1) if t.ndim == 0 else t
    tensors["tokens_since_fired"] = since_fired
    tensors["fire_counts"] = fire_counts
    progress = {"step": step, "epoch": step // batches_per_epoch, "batch": step % batches_per_epoch,
                "tokens": tokens, "dataset_rows": rows, "d_in": sae.d_in}
    meta = {"safesteer.train_config": encode_json(config.to_json()), "safesteer.sae_config": encode_json(sae.config()),
            "safesteer.progress": encode_json(progress)}
    write_safesteer_file(path, KIND, tensors, meta, overwrite=True)


def _check_checkpoint(header: FileHeader) -> None:
    """Metadata types and SAE tensor shapes of a training checkpoint, from its header (nothing read yet)."""
    header.json("safesteer.train_config", dict)
    progress = header.json("safesteer.progress", dict)
    if not all(isinstance(progress.get(k), int) and not isinstance(progress.get(k), bool)
               for k in ("step", "tokens", "d_in", "dataset_rows")):
        raise header.fail("metadata 'safesteer.progress' needs integer step, tokens, d_in and dataset_rows",
                          "delete the checkpoint and train again.")
    try:
        d_in, d_sae = check_sae_config(header.json("safesteer.sae_config", dict), "the checkpoint's SAE")
    except SafeSteerError as exc:
        raise header.fail(str(exc).rstrip("."), "delete the checkpoint and train again.") from None
    for name, shape in (("W_enc", (d_in, d_sae)), ("W_dec", (d_sae, d_in)), ("b_enc", (d_sae,)), ("b_dec", (d_in,))):
        header.expect(f"sae.{name}", shape)


def _load_checkpoint(path: Path, config: SAETrainConfig, d_in: int, rows: int) -> _State:
    tensors, meta = read_safesteer_file(path, expected_kind=KIND, check=_check_checkpoint)
    try:
        saved_cfg = decode_json(meta["safesteer.train_config"], "safesteer.train_config", path)
        sae_cfg = decode_json(meta["safesteer.sae_config"], "safesteer.sae_config", path)
        progress = decode_json(meta["safesteer.progress"], "safesteer.progress", path)
        saved = {k: v for k, v in saved_cfg.items() if k not in _RUN_LENGTH_FIELDS}
        current = config.trajectory_settings()
        diffs = [f"{k}: checkpoint {saved.get(k)!r}, now {current.get(k)!r}" for k in sorted(set(saved) | set(current))
                 if saved.get(k) != current.get(k)]
        if int(progress["d_in"]) != d_in or int(progress["dataset_rows"]) != rows:
            diffs.append(f"data: checkpoint {progress['dataset_rows']} rows of size {progress['d_in']}, "
                         f"now {rows} rows of size {d_in}")
        if diffs:
            raise SafeSteerError(f"the training checkpoint {path} was made with other settings ({'; '.join(diffs)}). "
                                 "Delete the checkpoint to start over, or train with the same settings and data.")
        sae = SparseAutoencoder.from_tensors({k[4:]: v for k, v in tensors.items() if k.startswith("sae.")}, sae_cfg)
        adam: dict[str, dict[str, torch.Tensor]] = {}
        for name in _PARAMS:
            keys = [f"adam.{name}.{key}" for key in ("exp_avg", "exp_avg_sq", "step")]
            if all(k in tensors for k in keys):
                adam[name] = {"exp_avg": tensors[keys[0]], "exp_avg_sq": tensors[keys[1]],
                              "step": tensors[keys[2]].reshape(())}
        return _State(sae, adam, tensors["tokens_since_fired"].to(torch.int64), tensors["fire_counts"].to(torch.int64),
                      int(progress["step"]), int(progress["tokens"]))
    except KeyError as exc:
        raise SafeSteerFileError(f"{path}: this SAETrainingState file is incomplete ({exc} missing); delete it "
                                 "and train again.") from exc


# ---------------------------------------------------------------------------------- training
def _init_sae(dataset: BatchSource, config: SAETrainConfig, d_sae: int) -> SparseAutoencoder:
    sample = dataset.sample(config.init_sample, seed=config.seed)
    mean_sq = float(sample.to(torch.float64).pow(2).sum(1).mean())
    if not mean_sq > 0:
        raise SafeSteerError("every sampled activation is zero; an SAE cannot be trained on them (check the site).")
    scale = math.sqrt(dataset.d / mean_sq)
    sae = SparseAutoencoder(dataset.d, d_sae, k=config.k, activation="topk", input_scale=scale,
                            tied_input_bias=True, seed=config.seed)
    with torch.no_grad():
        sae.b_dec.copy_(geometric_median(sample * scale, iters=config.median_iters))
    return sae


def _check_init(init: SparseAutoencoder, config: SAETrainConfig, d_in: int, d_sae: int) -> SparseAutoencoder:
    got = (init.activation, init.d_in, init.d_sae, init.k)
    if got != ("topk", d_in, d_sae, config.k):
        raise SafeSteerError(f"the initial SAE is {got[0]} with d_in={got[1]}, d_sae={got[2]}, k={got[3]}, but this run "
                             f"trains topk with d_in={d_in}, d_sae={d_sae}, k={config.k}; pass a matching SAE or none.")
    sae = init.copy().to("cpu")
    sae.tied_input_bias = True
    return sae


def _evaluate(sae: SparseAutoencoder, x: torch.Tensor) -> tuple[float, float]:
    """(normalised MSE, mean L0) of ``sae`` on raw activations ``x [N, D]``."""
    with torch.no_grad():
        z = sae.encode(x)
        xs = x * sae.input_scale
        recon = z @ sae.W_dec + sae.b_dec
        denom = (xs - xs.mean(0)).pow(2).sum().clamp_min(1e-12)
        return float((recon - xs).pow(2).sum() / denom), float((z > 0).sum(1).to(torch.float32).mean())


def train_sae(dataset: BatchSource | torch.Tensor, config: SAETrainConfig, progress: Progress | None = None,
              checkpoint_path: str | os.PathLike[str] | None = None, resume: bool = True,
              device: str | torch.device | None = None,
              init: SparseAutoencoder | None = None) -> tuple[SparseAutoencoder, TrainReport]:
    """Train a TopK SAE on ``dataset`` (a ShardDataset, InMemoryActivations or an ``[N, D]`` tensor).

    ``progress(step, total_steps, metrics)`` is called after every step (``step`` counts completed
    steps; metrics: loss, mse, aux, l0, dead_fraction). With ``checkpoint_path`` the state is saved
    every ``checkpoint_every`` steps, at the end, and when ``progress`` raises (a host cancelling the
    run loses no finished step); with ``resume`` an existing checkpoint is
    continued (its settings must match ``config``), without it the checkpoint is started over.
    ``init`` starts from a copy of an existing TopK SAE of this size (its input scale and weights)
    instead of the data-driven initialisation; a checkpoint being resumed takes precedence.
    Returns the SAE on the CPU (input bias still tied) and a :class:`TrainReport`.
    """
    data = InMemoryActivations(dataset) if isinstance(dataset, torch.Tensor) else dataset
    d_in, rows = data.d, len(data)
    d_sae = config.resolved_d_sae(d_in)
    if config.k > d_sae:
        raise SafeSteerError(f"k={config.k} exceeds the dictionary size {d_sae}; lower k or raise d_sae/expansion.")
    per_epoch = data.batches_per_epoch(config.batch_size, drop_last=True)
    if per_epoch == 0:
        raise SafeSteerError(f"batch_size {config.batch_size} exceeds the {rows} activation rows available; "
                             "harvest more activations or lower batch_size.")
    total = config.total_steps(rows)
    lr, aux_k = config.resolved_lr(d_sae), config.resolved_aux_k(d_in, d_sae)
    dev = torch.device(device) if device is not None else torch.device("cpu")
    ckpt = Path(checkpoint_path) if checkpoint_path is not None else None

    state = _load_checkpoint(ckpt, config, d_in, rows) if ckpt is not None and resume and ckpt.exists() else None
    if state is not None and state.step > total:
        raise SafeSteerError(f"the checkpoint {ckpt} is at step {state.step}, beyond the {total} steps asked for; "
                             "ask for at least that many steps or delete the checkpoint.")
    if state is not None:
        sae = state.sae
    elif init is not None:
        sae = _check_init(init, config, d_in, d_sae)
    else:
        sae = _init_sae(data, config, d_sae)
    sae = sae.to(dev)
    params = [getattr(sae, n) for n in _PARAMS]
    opt = torch.optim.Adam(params, lr=lr, betas=config.betas, eps=config.adam_eps)
    if state is not None and state.adam:
        opt.load_state_dict({"state": {i: dict(state.adam[n]) for i, n in enumerate(_PARAMS) if n in state.adam},
                             "param_groups": opt.state_dict()["param_groups"]})
    since_fired = (state.since_fired if state is not None else torch.zeros(d_sae, dtype=torch.int64)).to(dev)
    fire_counts = (state.fire_counts if state is not None else torch.zeros(d_sae, dtype=torch.int64)).to(dev)
    step = start = state.step if state is not None else 0
    tokens = state.tokens if state is not None else 0

    last_metrics: dict[str, float] = {}
    began = time.perf_counter()
    batches = None
    while step < total:
        if batches is None:
            batches = data.iter_batches(config.batch_size, seed=config.seed, epoch=step // per_epoch,
                                        start_batch=step % per_epoch, drop_last=True)
        try:
            x, _ = next(batches)
        except StopIteration:
            batches = None
            continue
        metrics = _step(sae, opt, x.to(dev), since_fired, fire_counts, config, aux_k)
        step += 1
        tokens += x.shape[0]
        last_metrics = metrics
        if progress is not None:
            try:
                progress(step, total, metrics)
            except BaseException:  # a host cancelling from its progress callback: keep the finished steps
                if ckpt is not None:
                    _save_checkpoint(ckpt, config, sae, opt, since_fired.cpu(), fire_counts.cpu(), step, tokens,
                                     per_epoch, rows)
                raise
        if ckpt is not None and config.checkpoint_every and step % config.checkpoint_every == 0 and step < total:
            _save_checkpoint(ckpt, config, sae, opt, since_fired.cpu(), fire_counts.cpu(), step, tokens, per_epoch, rows)
    seconds = time.perf_counter() - began
    if ckpt is not None:
        _save_checkpoint(ckpt, config, sae, opt, since_fired.cpu(), fire_counts.cpu(), step, tokens, per_epoch, rows)

    sae = sae.to("cpu")
    eval_x = data.sample(min(8192, rows), seed=config.seed + 1)
    mse, l0 = _evaluate(sae, eval_x)
    report = TrainReport(
        steps=step, total_steps=total, tokens=tokens, epochs=step / per_epoch, normalized_mse=mse, l0=l0,
        fraction_dead=float((since_fired >= config.dead_after_tokens).to(torch.float32).mean()),
        fraction_never_fired=float((fire_counts == 0).to(torch.float32).mean()),
        tokens_per_second=(tokens - (state.tokens if state is not None else 0)) / seconds if seconds > 0 else 0.0,
        seconds=seconds, resumed_from_step=start, lr=lr, d_sae=d_sae, k=config.k, input_scale=sae.input_scale,
        eval_rows=eval_x.shape[0], last_step=last_metrics)
    return sae, report


def _step(sae: SparseAutoencoder, opt: torch.optim.Adam, x: torch.Tensor, since_fired: torch.Tensor,
          fire_counts: torch.Tensor, config: SAETrainConfig, aux_k: int) -> dict[str, float]:
    """One optimiser step on raw activations ``x [B, D]``; updates the fire counters in place."""
    xs = x.to(sae.W_enc.dtype) * sae.input_scale
    pre = sae.pre_activations(x)
    z = sae.activate(pre)
    recon = z @ sae.W_dec + sae.b_dec
    denom = (xs - xs.mean(0)).pow(2).sum().clamp_min(1e-12)
    mse = (recon - xs).pow(2).sum() / denom
    dead = since_fired >= config.dead_after_tokens
    n_dead = int(dead.sum())
    aux = torch.zeros((), device=x.device)
    if n_dead > 0 and config.aux_coef > 0:
        k_aux = min(aux_k, n_dead)
        vals, idx = pre.masked_fill(~dead, -math.inf).topk(k_aux, dim=-1)
        e_hat = torch.zeros_like(pre).scatter_(-1, idx, vals) @ sae.W_dec
        aux = min(n_dead / aux_k, 1.0) * (e_hat - (xs - recon).detach()).pow(2).sum() / denom
    loss = mse + config.aux_coef * aux
    opt.zero_grad(set_to_none=True)
    loss.backward()
    if config.renorm and sae.W_dec.grad is not None:
        with torch.no_grad():
            g, w = sae.W_dec.grad, sae.W_dec
            g.sub_((g * w).sum(1, keepdim=True) * w)
    opt.step()
    if config.renorm:
        sae.normalize_decoder()
    with torch.no_grad():
        active = z > 0
        fired = active.any(0)
        since_fired.add_(x.shape[0]).masked_fill_(fired, 0)
        fire_counts.add_(active.sum(0))
    return {"loss": float(loss.detach()), "mse": float(mse.detach()), "aux": float(aux.detach()), "l0": float(active.sum(1).float().mean()),
            "dead_fraction": n_dead / since_fired.numel()}
