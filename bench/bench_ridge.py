"""Ridge alignment fit (Ds = Dt = 4096, N = 3000) against the unavoidable X^T X product.

The fit runs with its defaults: 10 % held-out anchors for R^2, relative lambda, and the principal basis
used for the coverage diagnostic. When this checkout's ``fit_alignment`` accepts ``lam="auto"`` (the
cross-validated strength; decided by a probe fit on a tiny problem, not by a version) a second row times
that too, against the same X^T X; otherwise the row says it was not run and why.
"""

from __future__ import annotations

from typing import Any

import torch

import steering_core as sc

from .common import compare


def accepts_auto_lam() -> tuple[bool, str]:
    """Whether ``fit_alignment(..., lam="auto")`` works here, with the reason when it does not."""
    gen = torch.Generator().manual_seed(1)
    x, y = torch.randn(40, 8, generator=gen), torch.randn(40, 6, generator=gen)
    try:
        sc.fit_alignment(x, y, "ridge", lam="auto")  # type: ignore[arg-type]
    except (TypeError, ValueError, sc.SafeSteerError) as err:
        return False, f"fit_alignment does not accept lam='auto' in this checkout ({type(err).__name__}: {err})"
    return True, ""


def run(device: torch.device, n: int = 3000, dim: int = 4096, repeats: int = 3, rounds: int = 1) -> list[dict[str, Any]]:
    gen = torch.Generator().manual_seed(0)
    latent = torch.randn(n, 256, generator=gen)
    source = (latent @ torch.randn(256, dim, generator=gen) + 0.5 * torch.randn(n, dim, generator=gen)).to(device)
    target = (latent @ torch.randn(256, dim, generator=gen) + 0.5 * torch.randn(n, dim, generator=gen)).to(device)
    auto, why = accepts_auto_lam()
    fns = {"xtx": lambda: source.T @ source, "fixed": lambda: sc.fit_alignment(source, target, "ridge")}
    if auto:
        fns["auto"] = lambda: sc.fit_alignment(source, target, "ridge", lam="auto")  # type: ignore[arg-type]
    stats = compare(fns, "xtx", device, repeats=repeats, rounds=rounds)
    rows = []
    for name in ("fixed", "auto"):
        row: dict[str, Any] = {"bench": "ridge_fit", "mode": f"lam={'auto' if name == 'auto' else 'default'}", "n": n,
                               "ds": dim, "dt": dim, "device": str(device), "target_ratio": 3.0}
        if name not in stats:
            rows.append({**row, "skipped": why, "target_ratio": None})
            continue
        alignment = fns[name]()
        rows.append({**row, **stats[name], "fit_s": stats[name]["seconds"], "xtx_s": stats[name]["reference_seconds"],
                     "solve": alignment.settings.get("solve"), "lam": alignment.settings.get("lam"),
                     "held_out_r2": alignment.held_out_r2})
    return rows
