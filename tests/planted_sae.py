"""A planted sparse dictionary and the SAE that reads it, as an independent reference for the SAE tests.

Atoms are random unit vectors in R^D (near-orthogonal: |cos| ~ 1/sqrt(D)). Latents ``harmful`` occur
only in unsafe prompts, ``safe`` only in safe prompts, the rest (benign) everywhere. The SAE is
built by hand: ``W_dec`` = the planted atoms, ``W_enc = W_dec^T``, ``b_dec = 0``, TopK ``k`` and a
negative encoder bias ``enc_bias`` (a detection threshold: cross-talk ``<d_j, x>`` of an absent atom,
std ~ ``|x| / sqrt(D)``, stays below it, so TopK does not fill free slots with cross-talk latents).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from steering_core.sae.autoencoder import SparseAutoencoder


@dataclass
class Planted:
    atoms: torch.Tensor          # [M, D] unit rows
    harmful: torch.Tensor        # [h] planted harmful latents
    safe: torch.Tensor           # [s] planted safe latents
    benign: torch.Tensor         # [M - h - s]


def planted_atoms(d: int = 512, m: int = 1024, n_harm: int = 6, n_safe: int = 6, seed: int = 0) -> Planted:
    g = torch.Generator().manual_seed(seed)
    atoms = torch.randn(m, d, generator=g, dtype=torch.float64)
    atoms = (atoms / atoms.norm(dim=1, keepdim=True)).float()
    idx = torch.arange(m)
    return Planted(atoms, idx[:n_harm], idx[n_harm:n_harm + n_safe], idx[n_harm + n_safe:])


def planted_sae(p: Planted, k: int = 4, activation: str = "topk", input_scale: float = 1.0,
                enc_bias: float = -0.8) -> SparseAutoencoder:
    m, d = p.atoms.shape
    sae = SparseAutoencoder(d, m, k=k, activation=activation, input_scale=input_scale, seed=None)
    with torch.no_grad():
        sae.W_dec.copy_(p.atoms)
        sae.W_enc.copy_(p.atoms.t())
        sae.b_enc.fill_(enc_bias)
        sae.b_dec.zero_()
    return sae


def tokens(p: Planted, n: int, kind: str, g: torch.Generator, n_atoms: int = 4, p_special: float = 0.7,
           noise: float = 0.02, lo: float = 2.0, hi: float = 3.0) -> torch.Tensor:
    """``n`` tokens ``[n, D]`` of exactly ``n_atoms`` atoms each (coefficients U(lo, hi)) plus Gaussian noise.

    With probability ``p_special`` one or two of the atoms are of ``kind`` ("unsafe": harmful,
    "safe": safe; "benign": never), the rest benign.
    """
    m, d = p.atoms.shape
    codes = torch.zeros(n, m)
    special = {"unsafe": p.harmful, "safe": p.safe, "benign": p.benign[:0]}[kind]
    for r in range(n):
        extra = 0
        if special.numel() and float(torch.rand(1, generator=g)) < p_special:
            extra = int(torch.randint(1, 3, (1,), generator=g))
        chosen = torch.cat([special[torch.randperm(special.numel(), generator=g)[:extra]],
                            p.benign[torch.randperm(p.benign.numel(), generator=g)[:n_atoms - extra]]])
        codes[r, chosen] = lo + (hi - lo) * torch.rand(chosen.numel(), generator=g)
    return codes @ p.atoms + noise * torch.randn(n, d, generator=g)


def prompts(p: Planted, n_prompts: int, kind: str, seed: int, t: int = 8, **kw: float) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [tokens(p, t, kind, g, **kw) for _ in range(n_prompts)]
