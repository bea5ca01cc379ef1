"""Steering operations on activations ``[..., D]`` (typically ``[B, T, D]``).

All K categories are applied in one batched op: projections ``s = h @ V^T`` (``[N, K]``), a
coefficient per token and category, then ``h + coef @ V``. No Python loop over categories.
With ``v_k`` unit (unsafe -> safe), strength ``a_k``, scale ``c_k`` (``beta |v_s|`` after
transport), threshold ``t_k`` and centre ``m_k``:

    add:          h + sum_k a_k c_k v_k                        (every token in the mask)
    gated:        h + sum_k a_k c_k [g_k < t_k] v_k            (only where the gate fires; g_k is the
                                                                direction's gate score: s_k, or the
                                                                read-out an older file carries)
    project_out:  h + sum_k a_k relu(m_k - s_k) v_k            (removes the unsafe-side part of the
                                                                projection below the centre; with
                                                                m_k = t_k this is a gated clamp)
    ablate:       h + sum_k a_k (m_k - s_k) v_k                (classic two-sided directional ablation)

Projections are measured on the input (all categories at once); for orthogonal directions this
equals applying the categories one after another. Tokens that no category touches (outside
``token_mask``, gate closed, already on the safe side) are returned bit-identical; when all
strengths are 0, or (on the CPU, where checking costs no device sync) no token changes, the input
tensor itself is returned. Device and dtype are preserved (float32, float16, bfloat16).

Cost: the activation is read from memory once and the output written once. Rows are processed in
cache-sized chunks (projections, coefficients and the update of a chunk while it is in cache), so
peak extra memory is the output tensor plus ``[N, K]`` coefficients; under ``torch.compile`` the op
is one functional expression (``where(touched, h + coef @ V, h)``) that the compiler fuses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch

from ..directions.direction import SafetyDirection
from ..errors import SafeSteerError
from ..directions.pooling import pool
from ..validation import as_float_tensor

MODES: tuple[str, ...] = ("add", "gated", "project_out", "ablate")
GATE_SCOPES: tuple[str, ...] = ("token", "sequence")
# Bytes of activation per fused chunk: inside a server CPU's last-level cache and a GPU's L2 (H100/H200:
# 50-60 MiB), and large enough that a [2, 4608, 3072] fp32 activation is 7 chunks. Few chunks because each
# is a parallel region whose barrier, on a loaded CPU, waits for a descheduled thread: 1 MiB chunks once
# measured 35x a plain add under load (bench/bench_steer.py's "saturated" rows show today's figure). Two
# single-threaded workers pulling 1-4 MiB chunks from a queue (L2-sized, no barriers) measured slower
# still: 1.75-2.1x quiet, 1.8-3.3x busy, on the 2-core VM (2026-12-01).
_CHUNK_BYTES = 16 << 20


def _per_category(value: float | Sequence[float] | torch.Tensor | None, k: int, what: str) -> torch.Tensor | None:
    if value is None:
        return None
    t = torch.as_tensor(value, dtype=torch.float32).reshape(-1)
    if t.numel() == 1:
        t = t.expand(k).clone()
    if t.numel() != k:
        raise SafeSteerError(f"{what} must be one value or one per category ({k}), got {t.numel()}.")
    if not bool(torch.isfinite(t).all()):
        raise SafeSteerError(f"{what} must be finite numbers, got {t.tolist()}.")
    return t


@dataclass(frozen=True)
class SteeringConfig:
    """What to do with a direction; one value or one per category for the numeric fields.

    Attributes:
        mode: "add", "gated", "project_out" or "ablate" (formulas in the module docstring).
        strength: steering strength a_k; 0 disables a category.
        thresholds: gate thresholds t_k for "gated"; default: the direction's calibrated ones.
        centres: centres m_k for "project_out"/"ablate"; default: the direction's benign mean
            projection if calibrated, else 0.
        gate_scope: "token" (each token's own score) or "sequence" (the score of the whole prompt,
            pooled the way the direction's prompts were, so a prompt is steered as a unit).
    """

    mode: str = "add"
    strength: float | Sequence[float] = 1.0
    thresholds: float | Sequence[float] | None = None
    centres: float | Sequence[float] | None = None
    gate_scope: str = "token"


class SteeringOp:
    """A prepared steering operation; call it on activations ``[..., D]`` as often as needed.

    >>> op = SteeringOp(direction, SteeringConfig(mode="gated", strength=[2.0, 0.0, 1.0]))
    >>> steered = op(hidden)          # hidden: [B, T, D]
    """

    def __init__(self, direction: SafetyDirection | object, config: SteeringConfig | None = None, **overrides: object):
        cfg = config or SteeringConfig()
        if overrides:
            cfg = SteeringConfig(**{**cfg.__dict__, **overrides})  # type: ignore[arg-type]
        if cfg.mode not in MODES:
            raise SafeSteerError(f"unknown steering mode {cfg.mode!r}; choose one of {', '.join(MODES)}.")
        if cfg.gate_scope not in GATE_SCOPES:
            raise SafeSteerError(f"unknown gate scope {cfg.gate_scope!r}; choose 'token' or 'sequence'.")
        d = direction if isinstance(direction, SafetyDirection) else SafetyDirection.from_vectors(
            as_float_tensor(direction, "direction"))
        k = d.num_categories
        strength = _per_category(cfg.strength, k, "strength")
        assert strength is not None
        active = torch.nonzero(strength != 0).flatten()
        self.config = cfg
        self.direction = d
        self.dim = d.dim
        self.active_categories = tuple(d.categories[i] for i in active.tolist())
        self._vectors = d.vectors[active].to(torch.float32).contiguous()
        self._strength = strength[active]
        self._scale = d.scale[active].to(torch.float32)
        self._thresholds: torch.Tensor | None = None
        self._centres: torch.Tensor | None = None
        self._gate_vectors: torch.Tensor | None = None
        self._gate_offsets: torch.Tensor | None = None
        if cfg.mode == "gated":
            thr = _per_category(cfg.thresholds, k, "thresholds")
            if thr is None:
                if d.thresholds is None:
                    raise SafeSteerError(
                        "gated steering needs gate thresholds, but this direction has none. Calibrate them on benign "
                        "prompts with steering_core.calibrate_gates(direction, benign_activations), or pass thresholds=..."
                    )
                thr = d.thresholds.to(torch.float32)
            self._thresholds = thr[active]
            if d.gate_vectors is not None and d.gate_offsets is not None:
                self._gate_vectors = d.gate_vectors[active].to(torch.float32).contiguous()
                self._gate_offsets = d.gate_offsets[active].to(torch.float32)
        elif cfg.mode in ("project_out", "ablate"):
            cen = _per_category(cfg.centres, k, "centres")
            if cen is None:
                cen = d.centres.to(torch.float32) if d.centres is not None else torch.zeros(k)
            self._centres = cen[active]
        self._cache: dict[tuple[str, torch.device, torch.dtype], Any] = {}

    @property
    def is_identity(self) -> bool:
        """True when every strength is 0: calls return the input unchanged."""
        return self._vectors.shape[0] == 0

    def _cached(self, key: tuple[str, torch.device, torch.dtype], make: Callable[[], Any]) -> Any:
        """``make()`` cached per key; under torch.compile computed in the graph instead (filling the cache
        there would change the state the compiled graph is guarded on, and recompile on the next step)."""
        if torch.compiler.is_compiling():
            return make()
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def _basis(self, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        def make() -> torch.Tensor:
            # renormalise in the working dtype so <v, v> = 1 to that dtype's precision
            vectors = self._vectors.to(device=device, dtype=torch.promote_types(dtype, torch.float32))
            return (vectors / vectors.norm(dim=1, keepdim=True)).to(dtype)

        return self._cached(("basis", device, dtype), make)

    def _readout(self, device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``([K, D] vectors, [K] offsets or None)`` whose scores the mode compares."""
        if self._gate_vectors is None or self._gate_offsets is None:
            return self._basis(device, dtype), None
        vectors, offsets = self._gate_vectors, self._gate_offsets
        return self._cached(("readout", device, dtype), lambda: (vectors.to(device=device, dtype=dtype), offsets.to(device)))

    def _constants(self, device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(per-category factor [K], thresholds or centres [K] or None)`` on ``device`` in ``dtype`` (cached)."""
        mode = self.config.mode
        factor = self._strength * self._scale if mode in ("add", "gated") else self._strength
        limit = self._thresholds if mode == "gated" else self._centres
        return self._cached(("constants", device, dtype),
                            lambda: (factor.to(device, dtype), None if limit is None else limit.to(device, dtype)))

    def _coefficients(self, scores: torch.Tensor) -> torch.Tensor:
        """``[N, K]`` coefficients from projections, in the projections' dtype."""
        factor, limit = self._constants(scores.device, scores.dtype)
        mode = self.config.mode
        assert limit is not None
        if mode == "gated":
            return (scores < limit).to(scores.dtype) * factor
        if mode == "project_out":
            return factor * torch.relu(limit - scores)
        return factor * (limit - scores)

    def __call__(self, hidden: torch.Tensor, token_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Steer ``hidden [..., D]``; ``token_mask`` (shape ``hidden.shape[:-1]``) limits which tokens may change."""
        return self.apply_flagged(hidden, token_mask)[0]

    def apply_flagged(self, hidden: torch.Tensor,
                      token_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, bool | torch.Tensor]:
        """``(steered hidden, touched)``: :meth:`__call__` and whether a token changed: False with ``hidden``
        itself, True, or (under torch.compile, on accelerators) a 0-d bool tensor, read by the caller outside
        any compiled region."""
        if self.is_identity:
            return hidden, False
        if not isinstance(hidden, torch.Tensor) or not hidden.is_floating_point():
            raise SafeSteerError("steering needs a floating-point torch tensor of activations.")
        self.direction.check_dim(int(hidden.shape[-1]), "the activations being steered")
        lead = hidden.shape[:-1]
        mask = None
        if token_mask is not None:
            if tuple(token_mask.shape) != tuple(lead):
                raise SafeSteerError(f"token_mask must have shape {tuple(lead)} to match the activations, got {tuple(token_mask.shape)}.")
            mask = token_mask.to(hidden.device).reshape(-1, 1)
            mask = mask if mask.dtype == torch.bool else mask != 0
        flat = hidden.reshape(-1, self.dim)
        if self.config.mode == "add" and mask is None:
            return hidden + ((self._strength * self._scale) @ self._vectors).to(hidden.device, hidden.dtype), True
        seq_scores = None
        if self.config.mode != "add" and self.config.gate_scope == "sequence":
            seq_scores = self._sequence_scores(hidden, token_mask)
        if torch.compiler.is_compiling():
            # one functional expression, which the compiler fuses into a single read and write
            coef, touched = self._rows(flat, mask, seq_scores)
            out = torch.where(touched, torch.addmm(flat, coef, self._basis(flat.device, flat.dtype)), flat)
            return out.reshape(hidden.shape), touched.any()
        out, touched = self._fused(flat, mask, seq_scores)
        hit = touched.any()
        if hidden.device.type == "cpu":  # on accelerators this check would cost a sync
            if not bool(hit):
                return hidden, False
            return out.reshape(hidden.shape), True
        return out.reshape(hidden.shape), hit

    def _rows(self, chunk: torch.Tensor, mask: torch.Tensor | None,
              scores: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Coefficients ``[n, K]`` (the chunk's dtype) and touched rows ``[n, 1]`` bool for a chunk ``[n, D]``;
        ``scores`` are precomputed projections of these rows (sequence gates), else measured here."""
        mode = self.config.mode
        if mode == "add":
            coef = self._constants(chunk.device, torch.float32)[0].expand(chunk.shape[0], -1)
        else:
            if scores is None:
                readout, offsets = self._readout(chunk.device, chunk.dtype) if mode == "gated" else (
                    self._basis(chunk.device, chunk.dtype), None)
                scores = (chunk @ readout.T).to(torch.promote_types(chunk.dtype, torch.float32))
                if offsets is not None:
                    scores = scores + offsets.to(scores.dtype)
            coef = self._coefficients(scores)
        if mask is not None:
            coef = coef * mask
        return coef.to(chunk.dtype), (coef != 0).any(dim=1, keepdim=True)

    def _fused(self, flat: torch.Tensor, mask: torch.Tensor | None,
               scores: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(out [N, D], touched [N, 1])`` through :func:`fused_update` with this op's coefficients."""
        return fused_update(flat, self._basis(flat.device, flat.dtype), lambda chunk, start, stop: self._rows(
            chunk, None if mask is None else mask[start:stop], None if scores is None else scores[start:stop]))

    def _sequence_scores(self, hidden: torch.Tensor, token_mask: torch.Tensor | None) -> torch.Tensor:
        """Projections ``[N, K]`` (float32 or wider) of each token's whole sequence: the prompt pooled the way
        the direction's prompts were, scored (read-out if any), broadcast to its tokens."""
        if hidden.ndim != 3:
            raise SafeSteerError(f"gate_scope='sequence' needs [B, T, D] activations, got {tuple(hidden.shape)}.")
        work = torch.promote_types(hidden.dtype, torch.float32)
        readout, offsets = self._readout(hidden.device, hidden.dtype) if self.config.mode == "gated" else (
            self._basis(hidden.device, hidden.dtype), None)
        pooling, k = self.direction.prompt_pooling
        pooled = pool(hidden.to(work), token_mask, pooling, k)
        per_seq = pooled @ readout.to(work).T  # [B, K]
        if offsets is not None:
            per_seq = per_seq + offsets.to(work)
        return per_seq.unsqueeze(1).expand(hidden.shape[0], hidden.shape[1], -1).reshape(-1, per_seq.shape[1])


def fused_update(flat: torch.Tensor, vectors: torch.Tensor,
                 coefficients: Callable[[torch.Tensor, int, int], tuple[torch.Tensor, torch.Tensor]],
                 out: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``flat + coef @ vectors`` with each chunk of rows read from memory once and written once.

    Args:
        flat: activations ``[N, D]`` (rows contiguous).
        vectors: ``[K, D]`` in ``flat``'s dtype.
        coefficients: ``(chunk [n, D], start, stop) -> (coef [n, K] in flat's dtype, touched [n, 1] bool)``
            for rows ``start:stop``; it may read the chunk (projections on K <= 8 directions: a thin matmul).
        out: where to write (``[N, D]``, not overlapping ``flat``); a new tensor by default.

    Returns ``(out [N, D], touched [N, 1])``. Per chunk (sized to stay in cache): the coefficients, the update
    written straight into ``out``, then untouched rows restored bit-exactly from the chunk (a -0.0 included).
    A few large chunks rather than many small ones: every chunk-sized op is a parallel region whose barrier,
    on a loaded machine, can wait for a descheduled thread.
    """
    out = torch.empty_like(flat) if out is None else out
    touched = torch.empty(flat.shape[0], 1, dtype=torch.bool, device=flat.device)
    rows = max(1, _CHUNK_BYTES // (flat.shape[1] * flat.element_size()))
    # On the CPU the untouched rows are found and copied back by index (a sync costs nothing there, and a
    # row copy is about half a broadcast ``where`` over the whole chunk); on accelerators ``where`` keeps
    # the loop free of host synchronisation.
    by_index = flat.device.type == "cpu"
    for start in range(0, flat.shape[0], rows):
        stop = min(start + rows, flat.shape[0])
        chunk, target = flat[start:stop], out[start:stop]
        coef, hit = coefficients(chunk, start, stop)
        touched[start:stop] = hit
        if not by_index:
            torch.addmm(chunk, coef, vectors, out=target)
            torch.where(hit, target, chunk, out=target)
            continue
        untouched = (~hit).squeeze(1).nonzero().squeeze(1)
        if untouched.numel() == chunk.shape[0]:
            target.copy_(chunk)
            continue
        torch.addmm(chunk, coef, vectors, out=target)
        if untouched.numel():
            target.index_copy_(0, untouched, chunk.index_select(0, untouched))
    return out, touched

def steer(
    hidden: torch.Tensor,
    direction: SafetyDirection | object,
    strength: float | Sequence[float] = 1.0,
    mode: str = "add",
    *,
    thresholds: float | Sequence[float] | None = None,
    centres: float | Sequence[float] | None = None,
    token_mask: torch.Tensor | None = None,
    gate_scope: str = "token",
) -> torch.Tensor:
    """Steer activations ``[..., D]`` along a safety direction (see the module docstring).

    One-off convenience over :class:`SteeringOp`; build the op once when steering many times.
    Returns a tensor of the input's shape, dtype and device (the input itself when nothing changes).
    """
    op = SteeringOp(direction, SteeringConfig(mode=mode, strength=strength, thresholds=thresholds, centres=centres,
                                              gate_scope=gate_scope))
    return op(hidden, token_mask)
