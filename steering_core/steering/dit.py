"""Steering inside DiT blocks: per-call preparation and per-site token updates.

A :class:`DiTSteerer` holds a safety direction and a :class:`DiTSteerConfig`. Once per model call
(one denoising step for one cond/uncond batch) the host calls :meth:`DiTSteerer.prepare` with the
text conditioning and the batch layout; that returns a :class:`CallPlan` which every steered block
then applies to its output streams with :meth:`CallPlan.apply`.

Spaces. A direction lives either in the model's hidden space (``dim == H``) or in the text
conditioning space (``dim == C``, what a ComfyUI text encoder outputs). A conditioning-space
direction is carried into the hidden space through the model's own text input projection ``f``:
the hidden shift for category k is ``f(c + s_k v_k) - f(c)``, i.e. exactly what adding the
direction (at strength 1) to the conditioning does to the text stream entering the first block.
For a linear projection (Flux ``txt_in``, SD3 ``context_embedder``) this is ``s_k W v_k`` for any
``c``, computed with ``c = 0``; for a non-linear one (Wan, LTXV, Qwen-Image) it is the finite
difference at the actual conditioning, averaged over its tokens, per prompt.

Modes (``a_k`` strength, ``u_k`` hidden shift of category k, ``g_bk`` prompt gate, ``r_b`` row mask):

    add:          h_bt + sum_k r_b a_k u_k
    gated:        h_bt + sum_k r_b g_bk a_k u_k    g_bk = 1 where prompt b's gate score for k is
                                                    below the direction's calibrated threshold,
                                                    scored on the conditioning (benign-calibrated)
    project_out:  h_bt + sum_k r_b a_k relu(-<h_bt, e_k>) e_k     e_k = u_k / |u_k|: lifts the
                                                    unsafe-side (negative) component along e_k to 0;
                                                    a_k = 1 removes it fully

Rows and tokens that are not steered come back bit-identical.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence, Union

import torch

from ..directions.direction import SafetyDirection
from ..errors import DimensionMismatchError, SafeSteerError
from ..directions.pooling import pool
from .ops import _per_category, fused_update

DIT_MODES: tuple[str, ...] = ("add", "gated", "project_out")
STREAMS: tuple[str, ...] = ("img", "txt", "both")
SPACES: tuple[str, ...] = ("auto", "hidden", "conditioning")


@dataclass(frozen=True)
class DiTSteerConfig:
    """How to steer inside the DiT.

    Attributes:
        mode: "add", "gated" or "project_out" (module docstring).
        strength: one value, or one per category of the direction.
        streams: "img", "txt" or "both": which token streams of a block's output are changed.
        cond_only: steer only the conditional branch (rows whose ``cond_or_uncond`` entry is 0).
        space: "auto" (hidden if the direction's size equals the model's hidden size, else
            conditioning), "hidden" or "conditioning".
    """

    mode: str = "add"
    strength: float | Sequence[float] = 1.0
    streams: str = "both"
    cond_only: bool = True
    space: str = "auto"

    def __post_init__(self) -> None:
        if self.mode not in DIT_MODES:
            raise SafeSteerError(f"unknown DiT steering mode {self.mode!r}; choose one of {', '.join(DIT_MODES)}.")
        if self.streams not in STREAMS:
            raise SafeSteerError(f"unknown stream {self.streams!r}; choose img, txt or both.")
        if self.space not in SPACES:
            raise SafeSteerError(f"unknown direction space {self.space!r}; choose auto, hidden or conditioning.")


def cond_row_mask(batch: int, cond_or_uncond: Sequence[int] | None, cond_only: bool) -> torch.Tensor:
    """``[B]`` bool: rows to steer. ComfyUI batches chunks of equal size, one per ``cond_or_uncond`` entry
    (0 = conditional, 1 = unconditional)."""
    if not cond_only or not cond_or_uncond:
        return torch.ones(batch, dtype=torch.bool)
    chunks = len(cond_or_uncond)
    if batch % chunks:
        raise SafeSteerError(f"batch of {batch} rows cannot be split into {chunks} cond/uncond chunks.")
    per = batch // chunks
    return torch.tensor([c == 0 for c in cond_or_uncond], dtype=torch.bool).repeat_interleave(per)


def shift_through(project: Callable[[torch.Tensor], torch.Tensor], steps: torch.Tensor,
                  base: torch.Tensor | None = None) -> torch.Tensor:
    """Hidden-space shift of adding each conditioning-space step to the conditioning.

    Args:
        project: the model's text input projection, ``[..., C] -> [..., H]``.
        steps: ``[K, C]`` conditioning-space steps (unit direction times its scale).
        base: ``None`` for a linear projection (shift is ``f(s) - f(0)``), or the conditioning
            ``[B, T, C]`` for a non-linear one (shift is ``mean_t f(c + s) - f(c)`` per row).

    Returns:
        ``[K, H]`` (base None) or ``[B, K, H]``, float32.
    """
    if base is None:
        x = torch.cat([steps, torch.zeros_like(steps[:1])], dim=0)
        y = project(x).to(torch.float32)
        return y[:-1] - y[-1:]
    b, t, c = base.shape
    k = steps.shape[0]
    shifted = base.unsqueeze(1) + steps.to(base.dtype).view(1, k, 1, c)          # [B, K, T, C]
    y = project(torch.cat([base.unsqueeze(1), shifted], dim=1).reshape(b * (k + 1), t, c))
    y = y.to(torch.float32).reshape(b, k + 1, t, -1)
    return (y[:, 1:] - y[:, :1]).mean(dim=2)


#: What an edit says about itself besides its result: False when it returned its input tensor itself (nothing
#: changed), True when it changed a token, or a 0-d bool tensor saying so where telling would need a host read
#: (under torch.compile, or on an accelerator): the host sums those after the model call, never inside it.
Touched = Union[bool, torch.Tensor]


@dataclass
class CallPlan:
    """What one model call does at every steered site (see :meth:`DiTSteerer.prepare`).

    ``row_delta [B, H]`` for add/gated (None when no row is steered), or ``basis [K, H]`` unit
    vectors with ``coef [B, K]`` row coefficients for project_out. ``rows [B]`` bool: rows that may
    change; ``any_rows`` (0-d bool, made with the plan, outside any compiled region): whether any does.
    """

    mode: str
    row_delta: torch.Tensor | None = None
    basis: torch.Tensor | None = None
    coef: torch.Tensor | None = None
    rows: torch.Tensor | None = None  # [B] bool, rows that may change

    def __post_init__(self) -> None:
        self.any_rows = None if self.rows is None else self.rows.any()

    @property
    def _rows_read(self) -> bool:
        """Whether ``any_rows`` may be read on the host: free for CPU rows in eager mode; under torch.compile
        (or on an accelerator, where it would sync) the plan applies and ``any_rows`` stays a tensor."""
        return self.rows is not None and self.rows.device.type == "cpu" and not torch.compiler.is_compiling()

    @property
    def is_identity(self) -> bool:
        return self.any_rows is None or (self._rows_read and not bool(self.any_rows))

    def apply(self, hidden: torch.Tensor, start: int = 0, stop: int | None = None) -> torch.Tensor:
        """Steer tokens ``[start:stop]`` of ``hidden [B, T, H]``; other tokens and rows stay bit-identical
        (see :meth:`apply_flagged`)."""
        return self.apply_flagged(hidden, start, stop)[0]

    def apply_flagged(self, hidden: torch.Tensor, start: int = 0,
                      stop: int | None = None) -> tuple[torch.Tensor, Touched]:
        """``(steered hidden [B, T, H], touched)``: :meth:`apply` and whether it changed a token (:data:`Touched`).

        add / gated: one elementwise add of a ``[B, 1, H]`` row shift (``-0.0`` on rows left alone, which
        keeps every value bit-identical, -0.0 included); ``touched`` is the plan's ``any_rows``, known when the
        call was prepared. project_out: per row, :func:`fused_update` reads the span once and writes it once
        (projections on the K unit vectors, then the lift); ``touched``: some token had an unsafe-side
        component. Eager on the CPU, a call that changes nothing returns ``hidden`` itself and False.
        """
        if self.is_identity:
            return hidden, False
        if hidden.ndim != 3:
            raise SafeSteerError(f"DiT steering expects block outputs [B, T, H], got {tuple(hidden.shape)}.")
        stop = hidden.shape[1] if stop is None else stop
        if stop <= start:
            return hidden, False
        rows = self.rows.to(hidden.device)  # type: ignore[union-attr]
        if rows.shape[0] != hidden.shape[0]:
            raise SafeSteerError(f"steering plan was prepared for {rows.shape[0]} rows, block output has {hidden.shape[0]}.")
        whole = start == 0 and stop == hidden.shape[1]
        if self.mode != "project_out":
            delta = self.row_delta.to(hidden.device, hidden.dtype)  # type: ignore[union-attr]
            update = torch.where(rows.unsqueeze(1), delta, -0.0).unsqueeze(1)  # [B, 1, H]
            touched: Touched = True if self._rows_read else self.any_rows  # type: ignore[assignment]
            if whole:
                return hidden + update, touched
            out = hidden.clone()
            out[:, start:stop] += update
            return out, touched
        basis = self.basis.to(hidden.device, hidden.dtype)  # type: ignore[union-attr]
        coef = self.coef.to(hidden.device, torch.float32)  # type: ignore[union-attr]
        if torch.compiler.is_compiling():
            seg = hidden[:, start:stop]
            amount = coef.unsqueeze(1) * torch.relu(-(seg @ basis.T).to(torch.float32))   # [B, T, K]
            lifted = (amount != 0).any(-1, keepdim=True)                                  # [B, T, 1]
            new = torch.where(lifted, seg + amount.to(hidden.dtype) @ basis, seg)
            return (new if whole else torch.cat([hidden[:, :start], new, hidden[:, stop:]], dim=1)), lifted.any()
        out = torch.empty_like(hidden) if whole else hidden.clone()
        hits = []
        for b in range(hidden.shape[0]):
            row_coef = coef[b]

            def coefficients(chunk: torch.Tensor, _start: int, _stop: int, c: torch.Tensor = row_coef) -> tuple[torch.Tensor, torch.Tensor]:
                amount = c * torch.relu(-(chunk @ basis.T).to(torch.float32))            # [n, K]
                return amount.to(chunk.dtype), (amount != 0).any(dim=1, keepdim=True)

            hits.append(fused_update(hidden[b, start:stop], basis, coefficients, out=out[b, start:stop])[1])
        touched = torch.cat(hits).any()
        if hidden.device.type == "cpu" and not bool(touched):  # free on the CPU; on accelerators it would sync
            return hidden, False
        return out, touched


class DiTSteerer:
    """A direction plus a config, ready to prepare per-call plans for one model.

    Args:
        direction: the safety direction (``K`` categories), in the hidden or conditioning space.
        config: what to do (:class:`DiTSteerConfig`).
        hidden_size: the model's hidden size ``H``.
        context_dim: the conditioning size ``C`` (what the text encoder feeds the model), if known.
    """

    def __init__(self, direction: SafetyDirection, config: DiTSteerConfig, hidden_size: int,
                 context_dim: int | None = None):
        self.direction = direction
        self.config = config
        self.hidden_size = int(hidden_size)
        self.context_dim = None if context_dim is None else int(context_dim)
        strength = _per_category(config.strength, direction.num_categories, "strength")
        assert strength is not None
        self.strength = strength
        d = direction.dim
        space = config.space
        if space == "auto":
            space = "hidden" if d == self.hidden_size else "conditioning"
        if space == "hidden" and d != self.hidden_size:
            raise DimensionMismatchError(
                f"the direction has size {d} but this model's hidden size is {self.hidden_size}. Use space "
                f"'conditioning' for a direction estimated from the model's text encoder, or transport it."
            )
        if space == "conditioning" and self.context_dim is not None and d != self.context_dim:
            raise DimensionMismatchError(
                f"the direction has size {d}, but this model's text conditioning has size {self.context_dim} and its "
                f"hidden size is {self.hidden_size}. Estimate the direction with this model's text encoder, or transport "
                f"it into that encoder's space with Align Cross-Model + Transport Direction."
            )
        self.space = space
        if config.mode == "gated":
            if direction.thresholds is None:
                raise SafeSteerError(
                    "gated mode needs gate thresholds, but this direction has none. Estimate it with Estimate Safety "
                    "Direction (which calibrates gates on benign anchors) or use mode 'add'."
                )
            if space != "conditioning":
                raise SafeSteerError(
                    "gated mode decides per prompt from the text conditioning, so it needs a direction in the "
                    "conditioning space (estimated from this model's text encoder, or transported into it)."
                )

    @property
    def is_identity(self) -> bool:
        return not bool((self.strength != 0).any())

    def gates(self, context: torch.Tensor) -> torch.Tensor:
        """``[B, K]`` float 0/1: which prompt opens which category's gate (score below threshold)."""
        pooling, k = self.direction.prompt_pooling
        pooled = pool(context.to(torch.float32), None, pooling, k)
        scores = self.direction.gate_scores(pooled)
        thresholds = self.direction.thresholds.to(scores.device, scores.dtype)  # type: ignore[union-attr]
        return (scores < thresholds).to(torch.float32)

    def prepare(self, batch: int, context: torch.Tensor | None = None, cond_or_uncond: Sequence[int] | None = None,
                project: Callable[[torch.Tensor], torch.Tensor] | None = None, project_is_linear: bool = True,
                device: torch.device | None = None) -> CallPlan:
        """Plan one model call.

        Args:
            batch: rows in this call (cond and uncond chunks together).
            context: the text conditioning ``[B, T, C]`` the model receives (needed for gated mode and
                for non-linear projections).
            cond_or_uncond: ComfyUI's per-chunk list (0 = cond, 1 = uncond).
            project: the model's text input projection (needed for conditioning-space directions).
            project_is_linear: whether ``project`` is affine (then the shift is context-free).
            device: where the plan's tensors should live (the model's device).
        """
        mode = self.config.mode
        rows = cond_row_mask(batch, cond_or_uncond, self.config.cond_only)
        dev = device or (context.device if context is not None else torch.device("cpu"))
        d = self.direction
        strength = self.strength.to(dev)
        coef = rows.to(dev, torch.float32).unsqueeze(1) * strength.unsqueeze(0)        # [B, K]
        if mode == "gated":
            if context is None:
                raise SafeSteerError("gated DiT steering needs the text conditioning of the call.")
            coef = coef * self.gates(context.to(dev)).to(dev)
        if self.space == "hidden":
            shifts = (d.vectors * d.scale.unsqueeze(1)).to(dev, torch.float32)          # [K, H]
        else:
            if project is None:
                raise SafeSteerError("a conditioning-space direction needs the model's text input projection.")
            steps = (d.vectors * d.scale.unsqueeze(1)).to(dev)
            if project_is_linear:
                shifts = shift_through(project, steps)                                  # [K, H]
            else:
                if context is None:
                    raise SafeSteerError("a non-linear text projection needs the conditioning of the call.")
                shifts = shift_through(project, steps, context.to(dev))                 # [B, K, H]
        if shifts.shape[-1] != self.hidden_size:
            raise DimensionMismatchError(
                f"the text projection maps the direction to size {shifts.shape[-1]}, expected the hidden size {self.hidden_size}."
            )
        steered_rows = (coef != 0).any(dim=1)
        if mode == "project_out":
            mean_shift = shifts if shifts.ndim == 2 else shifts.mean(dim=0)
            basis = mean_shift / mean_shift.norm(dim=1, keepdim=True).clamp_min(1e-12)
            return CallPlan(mode, basis=basis, coef=coef, rows=steered_rows)
        if shifts.ndim == 2:
            row_delta = coef @ shifts                                                   # [B, H]
        else:
            row_delta = torch.einsum("bk,bkh->bh", coef, shifts)
        return CallPlan(mode, row_delta=row_delta, rows=steered_rows)
