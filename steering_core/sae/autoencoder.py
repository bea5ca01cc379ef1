"""Sparse autoencoders over activations at one intervention site.

Shapes: ``D`` = activation size (``d_in``), ``M`` = dictionary size (``d_sae``).

    pre(x)  = (x * input_scale - b_in) @ W_enc + b_enc                 [..., M]
    z       = act(pre)                                                 [..., M] >= 0
    x_hat   = (z @ W_dec + b_dec) / input_scale                        [..., D]

``act`` is one of

* ``"topk"``: keep the ``k`` largest pre-activations of each token, then ReLU (Gao et al. 2024);
* ``"relu"``: ReLU (a standard L1 SAE);
* ``"jumprelu"``: ``relu(pre) * (pre > threshold)`` with a per-latent threshold.

``W_dec`` rows (the dictionary's *atoms*) have unit norm after training. ``b_in`` is the
encoder's input centering: while training it is *tied* to ``b_dec`` (``tied_input_bias``), and
decoder-only adaptation unties it so the frozen encoder keeps producing the same codes.
``input_scale`` rescales raw activations so their mean squared norm is ``D`` (the SAE works in
that normalised space; ``encode`` and ``decode`` take and return raw activations).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch
from torch import nn

from ..errors import DimensionMismatchError, SafeSteerError
from ..validation import require_finite

ACTIVATIONS: tuple[str, ...] = ("topk", "relu", "jumprelu")


class SparseAutoencoder(nn.Module):
    """A sparse autoencoder ``D -> M -> D`` (see the module docstring for the maths).

    Parameters (float32): ``W_enc [D, M]``, ``b_enc [M]``, ``W_dec [M, D]``, ``b_dec [D]``.
    Buffers: ``b_in [D]`` (used only when ``tied_input_bias`` is False), ``threshold [M]``
    (jumprelu thresholds; zeros otherwise).
    """

    def __init__(self, d_in: int, d_sae: int, k: int = 32, activation: str = "topk", input_scale: float = 1.0,
                 tied_input_bias: bool = True, seed: int | None = 0):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise SafeSteerError(f"unknown SAE activation {activation!r}; choose one of {', '.join(ACTIVATIONS)}.")
        if d_in < 1 or d_sae < 1:
            raise SafeSteerError(f"SAE sizes must be positive, got d_in={d_in}, d_sae={d_sae}.")
        if activation == "topk" and not 1 <= k <= d_sae:
            raise SafeSteerError(f"TopK SAE needs 1 <= k <= d_sae ({d_sae}), got k={k}.")
        self.d_in, self.d_sae, self.k, self.activation = int(d_in), int(d_sae), int(k), activation
        self.input_scale = float(input_scale)
        self.tied_input_bias = bool(tied_input_bias)
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        atoms = torch.randn(d_sae, d_in, generator=gen)
        atoms = atoms / atoms.norm(dim=1, keepdim=True)
        # encoder initialised as the decoder's transpose (Gao et al. 2024, sec. 2.2)
        self.W_dec = nn.Parameter(atoms)
        self.W_enc = nn.Parameter(atoms.t().clone())
        self.b_enc = nn.Parameter(torch.zeros(d_sae))
        self.b_dec = nn.Parameter(torch.zeros(d_in))
        self.register_buffer("b_in", torch.zeros(d_in))
        self.register_buffer("threshold", torch.zeros(d_sae))

    # ------------------------------------------------------------------ maths
    @property
    def input_bias(self) -> torch.Tensor:
        """The encoder's input centering ``[D]``: ``b_dec`` while tied, else ``b_in``."""
        return self.b_dec if self.tied_input_bias else self.b_in

    def _check(self, x: torch.Tensor) -> None:
        if x.shape[-1] != self.d_in:
            raise DimensionMismatchError(
                f"activations have size {x.shape[-1]} but this SAE was trained on size {self.d_in}; "
                f"use an SAE trained at this model's intervention site.")

    def pre_activations(self, x: torch.Tensor, latents: torch.Tensor | None = None) -> torch.Tensor:
        """``pre(x)`` for all latents ``[..., M]``, or only ``latents`` (LongTensor ``[L]``) -> ``[..., L]``.

        The restricted form costs ``D * L`` per token instead of ``D * M`` (the fast path).
        """
        self._check(x)
        xs = x.to(self.W_enc.dtype) * self.input_scale - self.input_bias
        if latents is None:
            return xs @ self.W_enc + self.b_enc
        return xs @ self.W_enc[:, latents] + self.b_enc[latents]

    def activate(self, pre: torch.Tensor) -> torch.Tensor:
        """Codes from pre-activations ``[..., M]`` (all latents: TopK ranks over the last axis)."""
        if self.activation == "relu":
            return torch.relu(pre)
        if self.activation == "jumprelu":
            return torch.relu(pre) * (pre > self.threshold)
        top = torch.topk(pre, self.k, dim=-1)
        return torch.zeros_like(pre).scatter_(-1, top.indices, torch.relu(top.values))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Sparse codes ``[..., M]`` of raw activations ``x [..., D]``."""
        return self.activate(self.pre_activations(x))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Raw-space reconstruction ``[..., D]`` of codes ``z [..., M]``."""
        return (z @ self.W_dec + self.b_dec) / self.input_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    def atom_contribution(self, codes: torch.Tensor, latents: torch.Tensor) -> torch.Tensor:
        """Raw-space contribution ``[..., D]`` of ``latents`` (``[L]``) with codes ``codes [..., L]``
        (the decoder bias is not included)."""
        return (codes @ self.W_dec[latents]) / self.input_scale

    @torch.no_grad()
    def normalize_decoder(self) -> None:
        """Rescale every atom to unit norm (zero atoms are left as they are)."""
        norms = self.W_dec.norm(dim=1, keepdim=True)
        self.W_dec.div_(torch.where(norms > 0, norms, torch.ones_like(norms)))

    def untie_input_bias(self) -> None:
        """Freeze the encoder's centering at the current ``b_dec`` so ``b_dec`` can change alone."""
        if self.tied_input_bias:
            with torch.no_grad():
                self.b_in.copy_(self.b_dec.detach())
            self.tied_input_bias = False

    def config(self) -> dict[str, object]:
        """JSON-able description (what the file format stores next to the tensors)."""
        return {"d_in": self.d_in, "d_sae": self.d_sae, "k": self.k, "activation": self.activation,
                "input_scale": self.input_scale, "tied_input_bias": self.tied_input_bias}

    def copy(self) -> "SparseAutoencoder":
        return copy.deepcopy(self)

    def state_tensors(self) -> dict[str, torch.Tensor]:
        return {"W_enc": self.W_enc.detach(), "b_enc": self.b_enc.detach(), "W_dec": self.W_dec.detach(),
                "b_dec": self.b_dec.detach(), "b_in": self.b_in.detach(), "threshold": self.threshold.detach()}

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor], config: dict[str, object]) -> "SparseAutoencoder":
        """Rebuild from :meth:`state_tensors` and :meth:`config`; shapes are checked against the config."""
        try:
            d_in, d_sae = int(config["d_in"]), int(config["d_sae"])  # type: ignore[arg-type]
            sae = cls(d_in, d_sae, k=int(config.get("k", 1)), activation=str(config.get("activation", "topk")),
                      input_scale=float(config.get("input_scale", 1.0)),  # type: ignore[arg-type]
                      tied_input_bias=bool(config.get("tied_input_bias", True)), seed=None)
        except (KeyError, TypeError, ValueError) as exc:
            raise SafeSteerError(f"SAE config {config} is incomplete or malformed ({exc}).") from exc
        expected = {"W_enc": (d_in, d_sae), "b_enc": (d_sae,), "W_dec": (d_sae, d_in), "b_dec": (d_in,),
                    "b_in": (d_in,), "threshold": (d_sae,)}
        with torch.no_grad():
            for name, shape in expected.items():
                if name not in tensors:
                    if name in ("b_in", "threshold"):
                        continue
                    raise SafeSteerError(f"SAE tensor {name!r} is missing.")
                t = tensors[name]
                if tuple(t.shape) != shape:
                    raise DimensionMismatchError(f"SAE tensor {name!r} has shape {tuple(t.shape)}, expected {shape} "
                                                 f"for d_in={d_in}, d_sae={d_sae}.")
                require_finite(t, f"SAE tensor {name!r}")
                getattr(sae, name).copy_(t.to(torch.float32))
        return sae


@dataclass
class SafetyFeatures:
    """Which latents of an SAE carry harm, chosen on the source risk domains.

    Attributes:
        harmful: LongTensor ``[h]``: harmful latents, strongest first.
        harmful_effect: ``[h]`` effect size (Cohen's d, unsafe minus safe) of each harmful latent.
        fast_threshold: ``[h]``: the fast path counts harmful latent j active where
            ``pre_j > fast_threshold[j]`` (calibrated to agree with the TopK codes; zeros for relu,
            the SAE's own thresholds for jumprelu).
        safe: LongTensor ``[s]``: latents more active on the safe side of the pairs.
        safe_profile: ``[s]`` mean code of each safe latent on safe minus unsafe prompts (>= 0).
        harm_scale: typical total harmful code of an unsafe token (Blend's intensity unit).
        stats: JSON-able notes (categories used, fast-path agreement, counts).
    """

    harmful: torch.Tensor
    harmful_effect: torch.Tensor
    fast_threshold: torch.Tensor
    safe: torch.Tensor = field(default_factory=lambda: torch.zeros(0, dtype=torch.long))
    safe_profile: torch.Tensor = field(default_factory=lambda: torch.zeros(0))
    harm_scale: float = 1.0
    stats: dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.harmful = torch.as_tensor(self.harmful, dtype=torch.long).reshape(-1)
        self.safe = torch.as_tensor(self.safe, dtype=torch.long).reshape(-1)
        h, s = self.harmful.numel(), self.safe.numel()
        self.harmful_effect = torch.as_tensor(self.harmful_effect, dtype=torch.float32).reshape(-1)
        self.fast_threshold = torch.as_tensor(self.fast_threshold, dtype=torch.float32).reshape(-1)
        self.safe_profile = torch.as_tensor(self.safe_profile, dtype=torch.float32).reshape(-1)
        if self.harmful_effect.numel() != h or self.fast_threshold.numel() != h:
            raise SafeSteerError(f"safety features: {h} harmful latents but {self.harmful_effect.numel()} effects and "
                                 f"{self.fast_threshold.numel()} fast thresholds.")
        if self.safe_profile.numel() != s:
            raise SafeSteerError(f"safety features: {s} safe latents but {self.safe_profile.numel()} profile values.")
        if not self.harm_scale > 0:
            raise SafeSteerError(f"safety features: harm_scale must be positive, got {self.harm_scale}.")

    def check_against(self, sae: SparseAutoencoder) -> None:
        """Raise if a latent index is outside the SAE's dictionary."""
        for name, idx in (("harmful", self.harmful), ("safe", self.safe)):
            if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= sae.d_sae):
                raise SafeSteerError(f"{name} latent indices must lie in 0..{sae.d_sae - 1}, got "
                                     f"{int(idx.min())}..{int(idx.max())}.")

    def tensors(self) -> dict[str, torch.Tensor]:
        return {"harmful": self.harmful, "harmful_effect": self.harmful_effect, "fast_threshold": self.fast_threshold,
                "safe": self.safe, "safe_profile": self.safe_profile}
