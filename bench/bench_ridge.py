"""Ridge alignment fit (Ds = Dt = 4096, N = 3000) against the unavoidable X^T X product.

Two rows, each against the same X^T X: the default fit (10 % held-out anchors for R^2, ``lam="auto"``:
13 candidate strengths scored by closed-form leave-one-out error, all read off one spectral
factorisation of the anchors, plus the principal basis used for the coverage diagnostic), and the
plain Cholesky solve at a fixed ``lam=0.01`` for comparison.
"""

from __future__ import annotations

from typing import Any

import torch

import steering_core as sc

from .common import compare


def run(device: torch.device, n: int = 3000, dim: int = 4096, repeats: int = 5, rounds: int = 1) -> list[dict[str, Any]]:
    gen = torch.Generator().manual_seed(0)
    latent = torch.randn(n, 256, generator=gen)
    source = (latent @ torch.randn(256, dim, generator=gen) + 0.5 * torch.randn(n, dim, generator=gen)).to(device)
    target = (latent @ torch.randn(256, dim, generator=gen) + 0.5 * torch.randn(n, dim, generator=gen)).to(device)
    fns = {"xtx": lambda: source.T @ source,
           "auto": lambda: sc.fit_alignment(source, target, "ridge", lam="auto"),
           "fixed": lambda: sc.fit_alignment(source, target, "ridge", lam=0.01)}
    stats = compare(fns, "xtx", device, repeats=repeats, rounds=rounds)
    rows = []
    for name in ("auto", "fixed"):
        row: dict[str, Any] = {"bench": "ridge_fit", "mode": f"lam={'auto' if name == 'auto' else '0.01'}", "n": n,
                               "ds": dim, "dt": dim, "device": str(device), "target_ratio": 3.0}
        alignment = fns[name]()
        rows.append({**row, **stats[name], "fit_s": stats[name]["seconds"], "xtx_s": stats[name]["reference_seconds"],
                     "solve": alignment.settings.get("solve"), "lam": alignment.settings.get("lam"),
                     "held_out_r2": alignment.held_out_r2})
    return rows
