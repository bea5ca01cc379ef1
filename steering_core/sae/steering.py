"""SAE steering: Repel and Blend on an SAE's harmful latents, gated per token, with a fast path.

Everything is in raw activation space. ``z`` = codes, ``H`` = harmful latents (``h = |H|``),
``S`` = safe latents with profile ``s_j`` (``SafetyFeatures.safe_profile``), ``d'_j`` = decoder atom
``j`` divided by ``input_scale`` (rows of ``sae.W_dec``: whatever decoder the SAE holds when the
steerer is built, e.g. an adapted one), ``w_j`` = encoder column ``j`` with the input scale folded
in, so ``pre_j(x) = <w_j, x> + const_j``.

Active set and gate, per token ``x``::

    A(x) = {j in H : z_j(x) > 0}
    full path:  z = TopK / ReLU / JumpReLU over all M latents (sae.encode)          cost D * M
    fast path:  z_j = relu(pre_j) * (pre_j > fast_threshold_j),  pre_H only        cost D * |H|
                (pre_H is sae.pre_activations(x, H), from encoder columns cached per device)

A token is steered iff ``A(x)`` is non-empty; every other token is returned bit-identical.

Repel (strength ``gamma``): the minimal move along the active harmful atoms that switches them
off for the frozen encoder. Find ``c`` in ``R^|A|`` with ``pre_A(x - sum_{i in A} c_i d'_i) = -margin``::

    G c = pre_A(x) + margin,    G_ji = <w_j, d'_i>  (j, i in A)

solved for every gated token at once, batched, in float32 with a ridge of 1e-7 * mean |G_jj| on the
diagonal (float64 only for float64 input, as it is slow on consumer GPUs). In the first round a set of one
latent (most gated tokens) is solved in closed form, ``c_a = (pre_a + margin) / (G_aa + ridge)``; larger
sets shared by many tokens are factorised once per distinct set; every other system is LU-factorised per
token and refined once with its residual, which brings the residual to float32 rounding. If the move
switches on another harmful latent ``j`` (``j`` in ``H \\ A`` whose moved pre-activation
``pre_j - sum_i G_ji c_i`` lies above its *off level*), ``j`` joins ``A`` and the system is solved again
(active-set loop, at most ``|H|`` rounds). The off level is the path's own reading of "off"
(:meth:`SAESteerer.off_level`): the fast path's threshold ``max(theta_j, 0)``, the very rule its gate
uses, so a Repelled token no longer passes the gate; on the full path the SAE's activation rule, 0 for
ReLU, ``max(threshold_j, 0)`` for JumpReLU, and 0 for TopK (sufficient whatever the top-k cut after the
move: a harmful latent TopK had left out is caught too). Then::

    x_repel = x - gamma * sum_{i in A} c_i d'_i

With a biorthogonal dictionary (``G = I``, zero biases) ``c = z_A + margin``: Repel removes exactly
the harmful latents' decoded contribution (plus the margin).

Blend (strength ``beta``): with ``rho(x) = min(1, sum_{j in H} z_j / harm_scale)``::

    t(x)    = D'(z with z_H := 0  +  rho(x) * s on S) + (x - D'(z))     (error term kept)
    t(x)-x  = rho(x) * sum_{j in S} s_j d'_j  -  sum_{j in H} z_j d'_j
    x_blend = x + beta * (t(x) - x)

Combined, on gated tokens only: Blend first, then Repel switches off whatever harmful activity the
blended point still has (so nothing is removed twice, and ``gamma = 1`` leaves every harmful latent
off whatever ``beta`` is)::

    x_b = x + beta * (t(x) - x)
    x'  = x_b - gamma * sum_{i in A_b} c_i d'_i      c, A_b from the solve above at x_b, where
                                                  pre_H(x_b) = pre_H(x) + <w_j, x_b - x> and A_b starts
                                                  from A(x) minus the latents already at or below -margin

``gamma = 0`` is pure Blend, ``beta = 0`` pure Repel; the Repel shift is linear in ``gamma``.

Under ``torch.compile`` (``torch.compiler.is_compiling()``) the same maths runs on every token with no
host read: all ``|H|`` active-set rounds (a row whose set stops growing keeps its coefficients), the
result kept where a harmful latent is active (``torch.where``), so the graph compiles with
``fullgraph=True`` and once for a whole sampling run; ``stats`` do not count compiled calls, but
:meth:`SAESteerer.apply_flagged` returns, with the result, a 0-d tensor "a harmful latent fired here" that the
host sums after the model call (so "no harmful feature fired" is reported for compiled runs too).

``beta = gamma = 0`` (or no harmful latent) returns the input tensor itself. The maths runs in
float32 (float64 only for float64 input); the result has the input's dtype and device. On a device the
steerer keeps only what the fast path reads (the harmful latents' encoder columns with the input scale and
centring folded in, their decoder rows, biases and thresholds, the Blend vector and ``G``:
``(2 h + 1) D + 2 h + h^2`` floats per site); the whole SAE is copied there only for ``path="full"``. ``margin`` is in
pre-activation units of the SAE's normalised space (codes are O(1) there).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, ClassVar

import torch

from ..errors import DimensionMismatchError, SafeSteerError
from .autoencoder import SafetyFeatures, SparseAutoencoder

PATHS: tuple[str, ...] = ("fast", "full")
_FULL_CHUNK_ELEMS = 1 << 26
_GATHER_ELEMS = 1 << 22
_GROUP_MIN_ROWS = 64  # below this a dense batched solve costs less than finding the distinct sets


def _unique_rows(mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(patterns [u, h], which [n])``: the distinct rows of a boolean ``mask [n, h]`` and each row's index
    among them. Rows are packed 62 bits to an int64 word first (``torch.unique`` on words is far faster than
    on boolean rows)."""
    n, h = mask.shape
    position = torch.arange(h, device=mask.device)
    bits = torch.ones(h, dtype=torch.int64, device=mask.device) << (position % 62)
    if h <= 62:
        codes, which = torch.unique((mask.long() * bits).sum(1), return_inverse=True)
        codes = codes[:, None]
    else:
        words = torch.zeros(n, -(-h // 62), dtype=torch.int64, device=mask.device)
        words.index_add_(1, position // 62, mask.long() * bits)
        codes, which = torch.unique(words, dim=0, return_inverse=True)
    patterns = (codes[:, position // 62] & bits) != 0
    return patterns, which


@dataclass(frozen=True)
class SAESteerConfig:
    """Steering settings.

    Attributes:
        beta: Blend strength (0 = off; 1 moves a token all the way to its blend target).
        gamma: Repel strength (1 = switch the active harmful latents off, exactly).
        path: ``"fast"`` (harmful pre-activations only, thresholds from the features) or ``"full"``
            (the SAE's own encoder over all latents).
        margin: how far below zero Repel pushes the harmful pre-activations, in pre-activation units
            of the SAE's normalised space.
    """

    beta: float = 0.0
    gamma: float = 1.0
    path: str = "fast"
    margin: float = 1e-3

    def __post_init__(self) -> None:
        if self.path not in PATHS:
            raise SafeSteerError(f"unknown SAE steering path {self.path!r}; choose one of {', '.join(PATHS)}.")
        for name in ("beta", "gamma", "margin"):
            value = float(getattr(self, name))
            if not value >= 0 or value == float("inf"):
                raise SafeSteerError(f"SAE steering {name} must be a finite number >= 0, got {getattr(self, name)}.")


@dataclass
class _DeviceTensors:
    """The steerer's constants on one device (float32)."""

    w_pre: torch.Tensor      # [D, h] w_j: encoder columns of H times input_scale
    b_pre: torch.Tensor      # [h]    const_j = b_enc_j - <b_in, W_enc[:, j]>, so pre_H(x) = x @ w_pre + b_pre
    theta: torch.Tensor      # [h] fast-path thresholds, at least 0 (the fast path's off level)
    atoms: torch.Tensor      # [h, D] d'_i = W_dec[H] / input_scale
    safe_vec: torch.Tensor   # [D]    sum_S s_j d'_j
    gram: torch.Tensor       # [h, h] G_ji = <w_j, d'_i>
    sae: SparseAutoencoder | None = None  # full path: the SAE on this device
    full_off: torch.Tensor | None = None  # full path: [h] its off level (SAESteerer.off_level)

    FAST_PATH: ClassVar[tuple[str, ...]] = ("w_pre", "b_pre", "theta", "atoms", "safe_vec", "gram")

    def fast_path_tensors(self) -> list[torch.Tensor]:
        """What the fast path holds: ``(2 h + 1) D + 2 h + h^2`` floats."""
        return [getattr(self, name) for name in self.FAST_PATH]

    def to(self, device: torch.device) -> "_DeviceTensors":
        """The fast path's tensors on ``device`` (the full path's are added there when first needed)."""
        return _DeviceTensors(**{name: getattr(self, name).to(device) for name in self.FAST_PATH})


@dataclass
class SteerStats:
    """Running counts for monitoring: calls, tokens seen, tokens gated (steered), active-set rounds."""

    calls: int = 0
    tokens: int = 0
    gated: int = 0
    last_tokens: int = 0
    last_gated: int = 0
    max_rounds: int = 0

    def as_dict(self) -> dict[str, object]:
        return {"calls": self.calls, "tokens": self.tokens, "gated": self.gated, "last_tokens": self.last_tokens,
                "last_gated": self.last_gated, "max_rounds": self.max_rounds,
                "gated_fraction": self.gated / self.tokens if self.tokens else 0.0}


class SAESteerer:
    """Repel / Blend steering with one SAE and its safety features (see the module docstring).

    ``steerer(x)`` steers ``x [..., D]``; ``steerer.active_mask(x)`` is the gate ``[...]``;
    ``steerer.stats`` counts tokens seen and steered. The atoms, ``G`` and the fast path's encoder
    columns are read from the SAE once, at construction: rebuild the steerer after changing the SAE.
    """

    def __init__(self, sae: SparseAutoencoder, features: SafetyFeatures, config: SAESteerConfig | None = None):
        features.check_against(sae)
        self.sae, self.features = sae, features
        self.config = config or SAESteerConfig()
        self.stats = SteerStats()
        self.d_in = sae.d_in
        self.harm_scale = float(features.harm_scale)
        with torch.no_grad():
            harmful, safe = features.harmful.to(sae.W_dec.device), features.safe.to(sae.W_dec.device)
            scale = sae.input_scale
            w_enc = sae.W_enc.detach()[:, harmful].float()
            dec_h = sae.W_dec.detach()[harmful].float()
            atoms = dec_h / scale
            safe_vec = features.safe_profile.to(sae.W_dec.device) @ (sae.W_dec.detach()[safe].float() / scale)
            # pre = (x * s - b_in) @ W + b = x @ (s W) + (b - b_in @ W): one read of x, no centred copy
            b_pre = (sae.b_enc.detach()[harmful].double()
                     - sae.input_bias.detach().double() @ w_enc.double()).float()
            # <W_enc[:, j], W_dec[i]> = <w_j, d'_i>, accumulated in float64 on the CPU once, used in float32
            gram = (w_enc.t().cpu().double() @ dec_h.t().cpu().double()).float().to(w_enc.device)
        self._home = _DeviceTensors(w_pre=w_enc * scale, b_pre=b_pre,
                                    # relu(pre) * (pre > theta) is the same for theta and max(theta, 0)
                                    theta=features.fast_threshold.float().to(sae.W_dec.device).clamp_min(0.0),
                                    atoms=atoms, safe_vec=safe_vec.reshape(sae.d_in), gram=gram)
        diag = gram.diagonal().abs()
        self.ridge = 1e-7 * float(diag.mean()) if diag.numel() and float(diag.mean()) > 0 else 1e-12
        self._cache: dict[str, _DeviceTensors] = {str(sae.W_dec.device): self._home}

    # ------------------------------------------------------------------ helpers
    @property
    def n_harmful(self) -> int:
        return int(self.features.harmful.numel())

    @property
    def is_identity(self) -> bool:
        """True when no call can change anything (no harmful latent, or both strengths 0)."""
        return self.n_harmful == 0 or (self.config.beta == 0 and self.config.gamma == 0)

    def _on(self, device: torch.device, full: bool = False) -> _DeviceTensors:
        key = str(device)
        t = self._cache.get(key)
        if t is None:
            t = self._cache[key] = self._home.to(device)
        if full and (t.sae is None or t.sae.W_dec.device != device):
            # the full path runs the SAE itself where it lives, a copy on any other device
            t.sae = self.sae if self.sae.W_dec.device == device else self.sae.copy().to(device)
        if full and t.full_off is None:
            level = torch.zeros_like(t.theta)
            if self.sae.activation == "jumprelu":
                level = self.sae.threshold.detach()[self.features.harmful.to(self.sae.threshold.device)].float()
            t.full_off = level.clamp_min(0.0).to(device)
        return t

    def _flat(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim < 1 or x.shape[-1] != self.d_in:
            size = x.shape[-1] if x.ndim else "scalar"
            raise DimensionMismatchError(f"activations have size {size} but the SAE reads size {self.d_in}; "
                                         "use an SAE trained at this site.")
        return x.reshape(-1, self.d_in)

    @staticmethod
    def _fast_pre(flat: torch.Tensor, t: _DeviceTensors) -> torch.Tensor:
        """The harmful pre-activations ``[N, h]`` (float32) of ``flat [N, D]``: ``x @ w_pre + b_pre``."""
        return torch.addmm(t.b_pre, flat.to(torch.float32), t.w_pre)

    def _codes(self, flat: torch.Tensor, t: _DeviceTensors) -> tuple[torch.Tensor, torch.Tensor]:
        """Harmful pre-activations and codes ``[N, h]`` (float32) by the configured path."""
        if self.config.path == "fast":
            pre = self._fast_pre(flat, t)
            return pre, torch.relu(pre) * (pre > t.theta)
        sae = t.sae
        assert sae is not None
        harmful = self.features.harmful.to(flat.device)
        rows = max(1, _FULL_CHUNK_ELEMS // sae.d_sae)
        pres, codes = [], []
        for i in range(0, flat.shape[0], rows):
            pre_all = sae.pre_activations(flat[i:i + rows])
            pres.append(pre_all[:, harmful])
            codes.append(sae.activate(pre_all)[:, harmful])
        if not pres:
            empty = torch.zeros(0, self.n_harmful, device=flat.device)
            return empty, empty
        return torch.cat(pres), torch.cat(codes)

    def _masked_systems(self, masks: torch.Tensor, gram: torch.Tensor) -> torch.Tensor:
        """``[..., h, h]``: ``G_AA`` plus the ridge on the mask ``A`` (``masks [..., h]``), the identity off it.

        Built by multiplying with the 0/1 mask (broadcast ``torch.where`` over ``[n, h, h]`` is several times
        slower on the CPU)."""
        m = masks.to(gram.dtype)
        system = gram * m[..., :, None]
        system.mul_(m[..., None, :])
        system.diagonal(dim1=-2, dim2=-1).add_((1.0 - m) + m * self.ridge)
        return system

    def _solve(self, pre: torch.Tensor, mask: torch.Tensor, gram: torch.Tensor) -> torch.Tensor:
        """Per row, ``c`` with ``c_i = 0`` off the mask and ``G_AA c_A = pre_A + margin`` on it.

        Batched over rows in ``pre``'s dtype: the masked system ``[n, h, h]`` of every row is LU-factorised
        once, solved, and refined once with the residual. No host read (the compiled path uses it).
        """
        system = self._masked_systems(mask, gram)
        rhs = torch.where(mask, pre + self.config.margin, torch.zeros_like(pre)).unsqueeze(-1)
        lu, pivots = torch.linalg.lu_factor(system)
        coef = torch.linalg.lu_solve(lu, pivots, rhs)
        coef = coef + torch.linalg.lu_solve(lu, pivots, rhs - system @ coef)
        return coef.squeeze(-1)

    def _solve_grouped(self, pre: torch.Tensor, mask: torch.Tensor, gram: torch.Tensor) -> torch.Tensor:
        """:meth:`_solve` with one factorisation per distinct row of ``mask`` (eager path, first round).

        The path's own active sets are sparse and shared by many tokens (tens of patterns for hundreds of gated
        tokens), so the sets are packed into integers and made unique; each pattern's system ``[u, h, h]`` is
        inverted once (LU) and a row's ``c`` is its pattern's inverse times its right-hand side, refined once
        with the exact residual ``rhs - (G c + ridge c)`` on the mask. Falls back to :meth:`_solve` when more
        than half the rows have a pattern of their own. Reads the number of patterns on the host.
        """
        if pre.shape[0] < _GROUP_MIN_ROWS:
            return self._solve(pre, mask, gram)
        patterns, which = _unique_rows(mask)
        if 2 * patterns.shape[0] > pre.shape[0]:
            return self._solve(pre, mask, gram)
        system = self._masked_systems(patterns, gram)
        lu, pivots = torch.linalg.lu_factor(system)
        eye = torch.eye(gram.shape[0], dtype=gram.dtype, device=gram.device).expand_as(system)
        inverse = torch.linalg.lu_solve(lu, pivots, eye)
        zero = torch.zeros((), dtype=pre.dtype, device=pre.device)
        rhs = torch.where(mask, pre + self.config.margin, zero)
        coef = torch.zeros_like(pre)
        step = max(1, _GATHER_ELEMS // max(1, gram.numel()))  # bounds the gathered inverses [rows, h, h]
        for i in range(0, pre.shape[0], step):
            rows = slice(i, i + step)
            inv_rows = inverse[which[rows]]
            c = torch.where(mask[rows], torch.bmm(inv_rows, rhs[rows].unsqueeze(-1)).squeeze(-1), zero)
            residual = torch.where(mask[rows], rhs[rows] - c @ gram.t() - self.ridge * c, zero)
            coef[rows] = torch.where(mask[rows], c + torch.bmm(inv_rows, residual.unsqueeze(-1)).squeeze(-1), zero)
        return coef

    @staticmethod
    def _switched_on(pre: torch.Tensor, coef: torch.Tensor, mask: torch.Tensor, gram: torch.Tensor,
                     off: torch.Tensor) -> torch.Tensor:
        """``[n, h]``: the latents outside the set that read on after the move ``c``: the moved
        pre-activation ``pre_j - sum_i G_ji c_i`` above the off level."""
        after = torch.addmm(pre, coef, gram.t(), alpha=-1)
        return (after > off) & ~mask

    def _solve_first(self, pre: torch.Tensor, mask: torch.Tensor, gram: torch.Tensor) -> torch.Tensor:
        """The first round of :meth:`repel_coefficients` (eager): a set of one latent ``a`` (most gated tokens)
        has ``c_a = (pre_a + margin) / (G_aa + ridge)`` in closed form; the other rows go to
        :meth:`_solve_grouped`."""
        zero = torch.zeros((), dtype=pre.dtype, device=pre.device)
        coef = torch.where(mask, (pre + self.config.margin) / (gram.diagonal() + self.ridge), zero)
        several = torch.nonzero(mask.sum(1) > 1).reshape(-1)
        if several.numel():
            coef[several] = self._solve_grouped(pre[several], mask[several], gram)
        return coef

    def off_level(self, device: torch.device | str) -> torch.Tensor:
        """``[h]`` float32: the pre-activation at or below which the configured path reads each harmful latent
        as off, what Repel's active-set loop checks. Fast path: ``max(fast_threshold_j, 0)`` (the fast gate's
        own rule); full path: the SAE's activation rule, ``max(threshold_j, 0)`` for JumpReLU and 0 for ReLU
        and TopK (for TopK a sufficient level: whether a latent makes the top k after the move depends on all
        the others)."""
        full = self.config.path == "full"
        t = self._on(torch.device(device), full)
        if not full:
            return t.theta
        assert t.full_off is not None
        return t.full_off

    def repel_coefficients(self, pre: torch.Tensor, active: torch.Tensor,
                           gram: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, int]:
        """Repel's active-set solve: ``pre [n, h]``, ``active [n, h]`` -> ``(c [n, h], final set, rounds)``.

        ``c`` is float32 (float64 for float64 ``pre``). After ``x - sum_i c_i d'_i`` every latent in the
        final set sits at ``-margin`` and every other harmful latent at or below its :meth:`off_level`
        (unless ``|H|`` rounds did not suffice, which needs a pathological dictionary). Each round solves all
        the rows whose set grew at once; the loop is over rounds, never over tokens.
        """
        work = torch.float64 if pre.dtype == torch.float64 else torch.float32
        g = (self._home.gram if gram is None else gram).to(pre.device, work)
        off = self.off_level(pre.device).to(work)
        pre_w = pre.to(work)
        mask = active.clone()
        coef = self._solve_first(pre_w, mask, g)
        rounds = 1
        todo: torch.Tensor | None = None  # rows still being solved (None: all of them)
        pre_t, mask_t, coef_t = pre_w, mask, coef
        for _ in range(self.n_harmful):
            new = self._switched_on(pre_t, coef_t, mask_t, g, off)
            rows = torch.nonzero(new.any(1)).reshape(-1)
            if rows.numel() == 0:
                break
            todo = rows if todo is None else todo[rows]
            pre_t, mask_t = pre_t[rows], mask_t[rows] | new[rows]
            coef_t = self._solve(pre_t, mask_t, g)
            coef[todo], mask[todo] = coef_t, mask_t
            rounds += 1
        return coef, mask, rounds

    # ------------------------------------------------------------------ public
    @torch.no_grad()
    def harmful_codes(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(pre [..., h], z [..., h])`` of the harmful latents by the configured path (float32)."""
        flat = self._flat(x)
        pre, z = self._codes(flat, self._on(flat.device, self.config.path == "full"))
        return pre.reshape(*x.shape[:-1], self.n_harmful), z.reshape(*x.shape[:-1], self.n_harmful)

    @torch.no_grad()
    def active_mask(self, x: torch.Tensor) -> torch.Tensor:
        """The gate ``[...]``: True where at least one harmful latent is active."""
        if self.n_harmful == 0:
            return torch.zeros(x.shape[:-1], dtype=torch.bool, device=x.device)
        return (self.harmful_codes(x)[1] > 0).any(-1)

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Steer ``x [..., D]`` (any leading shape, float32/16/bfloat16/64); ungated tokens bit-identical."""
        return self.apply_flagged(x)[0]

    @torch.no_grad()
    def apply_flagged(self, x: torch.Tensor) -> tuple[torch.Tensor, bool | torch.Tensor]:
        """``(steered x, touched)``: :meth:`__call__` and whether a harmful latent fired on some token. Eager:
        ``x`` itself and False when none did, else True. Under torch.compile ``touched`` is a 0-d bool tensor
        of the graph (no host read), for the host to sum after the model call."""
        flat = self._flat(x)
        if torch.compiler.is_compiling():
            # no stats here: the graph would be guarded on their Python ints and recompile on every call
            if self.is_identity or flat.shape[0] == 0:
                return x, False
            out, gated = self._steer_every_row(flat)
            return out.reshape(x.shape), gated.any()
        st = self.stats
        st.calls += 1
        st.last_tokens, st.last_gated = flat.shape[0], 0
        st.tokens += flat.shape[0]
        if self.is_identity or flat.shape[0] == 0:
            return x, False
        cfg = self.config
        t = self._on(flat.device, cfg.path == "full")
        if cfg.path == "fast":  # theta >= 0: z_j > 0 iff pre_j > theta_j, and z_j = pre_j there
            pre = self._fast_pre(flat, t)
            active, z = pre > t.theta, None
        else:
            pre, z = self._codes(flat, t)
            active = z > 0
        rows = torch.nonzero(active.any(1)).reshape(-1)
        n_rows = int(rows.numel())
        st.last_gated = n_rows
        st.gated += n_rows
        if n_rows == 0:
            return x, False
        wide = torch.float64 if x.dtype == torch.float64 else torch.float32

        def repel(pre_r: torch.Tensor, active_r: torch.Tensor) -> torch.Tensor:
            coef, _, rounds = self.repel_coefficients(pre_r, active_r, t.gram)
            st.max_rounds = max(st.max_rounds, rounds)
            return coef

        pre_r, active_r = pre[rows], active[rows]
        z_r = pre_r * active_r if z is None else z[rows]
        delta = self._delta(pre_r, z_r, active_r, t, repel)
        if x.dtype == wide:  # one pass: copy and add on the gated rows (the same float32/64 sums)
            return flat.index_add(0, rows, delta.to(wide)).reshape(x.shape), True
        out = flat.clone()
        out.index_copy_(0, rows, (flat[rows].to(wide) + delta.to(wide)).to(x.dtype))
        return out.reshape(x.shape), True

    def _delta(self, pre: torch.Tensor, z: torch.Tensor, active: torch.Tensor, t: _DeviceTensors,
               repel: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> torch.Tensor:
        """Blend then Repel shift ``[n, D]`` (float32) of rows with harmful ``pre``, ``z``, ``active [n, h]``;
        ``repel(pre, active)`` gives Repel's coefficients ``[n, h]``."""
        cfg = self.config
        delta = torch.zeros((), device=pre.device, dtype=torch.float32)
        if cfg.beta:
            rho = torch.clamp(z.sum(1, keepdim=True) / self.harm_scale, max=1.0)
            delta = torch.addmm(rho * t.safe_vec, z, t.atoms, alpha=-1).mul_(cfg.beta)
            # Repel then acts on the blended point: its harmful pre-activations move by <w_j, delta>
            pre = torch.addmm(pre, delta, t.w_pre)
            active = active & (pre > -cfg.margin)
        if cfg.gamma:
            delta = delta - cfg.gamma * (repel(pre, active).to(torch.float32) @ t.atoms)
        return delta.expand(pre.shape[0], self.d_in)

    def _repel_every_round(self, pre: torch.Tensor, active: torch.Tensor, gram: torch.Tensor) -> torch.Tensor:
        """:meth:`repel_coefficients` without host reads, for torch.compile: every one of the ``|H|`` rounds
        runs (a row whose set did not grow keeps its coefficients, as in the early-exit loop), so the graph
        has no data-dependent branch; rows with an empty set solve the identity to ``c = 0``."""
        work = torch.float64 if pre.dtype == torch.float64 else torch.float32
        g = gram.to(pre.device, work)
        off = self.off_level(pre.device).to(work)
        pre_w = pre.to(work)
        mask = active
        coef = self._solve(pre_w, mask, g)
        for _ in range(self.n_harmful):
            new = self._switched_on(pre_w, coef, mask, g, off)
            mask = mask | new
            coef = torch.where(new.any(1, keepdim=True), self._solve(pre_w, mask, g), coef)
        return coef

    def _steer_every_row(self, flat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(steered flat [N, D], gated [N, 1])``: the steer computed on every row and kept only where a harmful
        latent is active (``gated``): one graph with no host synchronisation (what torch.compile traces; eager
        runs gather the gated rows). Compiled calls are not counted in ``stats``."""
        t = self._on(flat.device, self.config.path == "full")
        pre, z = self._codes(flat, t)
        active = z > 0
        delta = self._delta(pre, z, active, t, lambda p, a: self._repel_every_round(p, a, t.gram))
        wide = torch.float64 if flat.dtype == torch.float64 else torch.float32
        steered = (flat.to(wide) + delta.to(wide)).to(flat.dtype)
        gated = active.any(1, keepdim=True)
        return torch.where(gated, steered, flat), gated

    def reset_stats(self) -> None:
        self.stats = SteerStats()
