"""Ridge alignment fit (Ds = Dt = 4096, N = 3000) against the unavoidable X^T X product.

The fit runs with its defaults: 10 % held-out anchors for R^2, relative lambda, and the
principal basis used for the coverage diagnostic.
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
    return [{
        "bench": "ridge_fit", "n": n, "ds": dim, "dt": dim, "device": str(device), "fit_s": fit_s, "xtx_s": gram_s,
        "ratio": ratio, "target_ratio": 3.0, "solve": alignment.settings["solve"],
        "held_out_r2": alignment.held_out_r2,
    }]
