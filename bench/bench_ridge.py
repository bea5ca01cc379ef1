"""Ridge alignment fit (Ds = Dt = 4096, N = 3000) against the unavoidable X^T X product.

The fit runs with its defaults: 10 % held-out anchors for R^2, ``lam="auto"`` (13 candidate strengths
scored by closed-form leave-one-out error, all read off one spectral factorisation of the anchors,
which here, with a 2700 x 2700 dual Gram above the exact limit, keeps its top 512 components), and
the principal basis used for the coverage diagnostic. The ``ridge_fit_fixed_lam`` row times the
plain Cholesky solve at ``lam=0.01`` for comparison.
"""

from __future__ import annotations

import torch

import steering_core as sc

from .common import interleaved_ratio


def run(device: torch.device, n: int = 3000, dim: int = 4096) -> list[dict[str, object]]:
    gen = torch.Generator().manual_seed(0)
    latent = torch.randn(n, 256, generator=gen)
    source = (latent @ torch.randn(256, dim, generator=gen) + 0.5 * torch.randn(n, dim, generator=gen)).to(device)
    target = (latent @ torch.randn(256, dim, generator=gen) + 0.5 * torch.randn(n, dim, generator=gen)).to(device)
    fit_s, gram_s, ratio = interleaved_ratio(lambda: sc.fit_alignment(source, target, "ridge"),
                                             lambda: source.T @ source, device, rounds=3)
    alignment = sc.fit_alignment(source, target, "ridge")
    fixed_s, gram2_s, fixed_ratio = interleaved_ratio(lambda: sc.fit_alignment(source, target, "ridge", lam=0.01),
                                                      lambda: source.T @ source, device, rounds=3)
    return [{
        "bench": "ridge_fit", "n": n, "ds": dim, "dt": dim, "device": str(device), "fit_s": fit_s, "xtx_s": gram_s,
        "ratio": ratio, "target_ratio": 3.0, "solve": alignment.settings["solve"],
        "held_out_r2": alignment.held_out_r2, "lam": "auto", "lam_selected": alignment.settings["lam_selected"],
        "loo_r2": alignment.settings["loo_r2"], "spectrum_rank": alignment.settings["spectrum_rank"],
    }, {
        "bench": "ridge_fit_fixed_lam", "n": n, "ds": dim, "dt": dim, "device": str(device), "fit_s": fixed_s,
        "xtx_s": gram2_s, "ratio": fixed_ratio, "target_ratio": 3.0, "lam": 0.01,
    }]
