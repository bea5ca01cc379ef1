"""Closed-form linear algebra for alignment maps: ridge, orthogonal Procrustes, principal bases.

Row convention throughout: activations are rows, ``X [N, Ds]``, and a linear map is
``W [Ds, Dt]`` applied as ``X @ W``. Inputs here are already centred.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .errors import SafeSteerError


@dataclass(frozen=True)
class RidgeSolution:
    """Ridge map ``W = argmin ||Xc W - Yc||^2 + lam ||W||^2``.

    Stored either as ``weight [Ds, Dt]`` (primal, N >= Ds) or factored as
    ``W = dual_basis.T @ dual_coef`` with ``dual_basis [N, Ds]`` (the centred anchors) and
    ``dual_coef = (Xc Xc^T + lam I)^{-1} Yc [N, Dt]`` (dual, N < Ds), which never forms the
    ``Ds x Dt`` matrix and is cheaper when anchors are fewer than dimensions.
    """

    weight: torch.Tensor | None
    dual_basis: torch.Tensor | None
    dual_coef: torch.Tensor | None
    gram: torch.Tensor  # Xc^T Xc (primal) or Xc Xc^T (dual), without lam; reused for the principal basis

    def dense_weight(self) -> torch.Tensor:
        """``W [Ds, Dt]`` as one matrix (formed from the factors in the dual case)."""
        if self.weight is not None:
            return self.weight
        assert self.dual_basis is not None and self.dual_coef is not None
        return self.dual_basis.T @ self.dual_coef


def _cholesky(matrix: torch.Tensor, lam: float) -> torch.Tensor:
    """Cholesky factor; retries in float64 when float32 is not accurate enough."""
    factor, info = torch.linalg.cholesky_ex(matrix)
    if int(info) == 0:
        return factor
    if matrix.dtype != torch.float64:
        factor64, info64 = torch.linalg.cholesky_ex(matrix.to(torch.float64))
        if int(info64) == 0:
            return factor64
    raise SafeSteerError(
        f"the ridge system is not positive definite with lambda={lam:g}; increase lambda "
        "(e.g. lam=1e-2 with lam_mode='relative')."
    )


def ridge_solve(xc: torch.Tensor, yc: torch.Tensor, lam: float) -> RidgeSolution:
    """Closed-form centred ridge; primal when ``N >= Ds``, dual otherwise."""
    if lam < 0:
        raise SafeSteerError(f"ridge lambda must be >= 0, got {lam}.")
    n, ds = xc.shape
    if n >= ds:
        gram = xc.T @ xc
        system = gram.clone()
        system.diagonal().add_(lam)
        factor = _cholesky(system, lam)
        weight = torch.cholesky_solve((xc.T @ yc).to(factor.dtype), factor).to(xc.dtype)
        return RidgeSolution(weight=weight, dual_basis=None, dual_coef=None, gram=gram)
    gram = xc @ xc.T
    system = gram.clone()
    system.diagonal().add_(lam)
    factor = _cholesky(system, lam)
    coef = torch.cholesky_solve(yc.to(factor.dtype), factor).to(xc.dtype)
    return RidgeSolution(weight=None, dual_basis=xc, dual_coef=coef, gram=gram)


def procrustes_solve(xc: torch.Tensor, yc: torch.Tensor, scaled: bool = True) -> tuple[torch.Tensor, float]:
    """Orthogonal Procrustes ``W = U V^T`` from the thin SVD ``Xc^T Yc = U S V^T``.

    When ``Ds == Dt`` W is orthogonal. When they differ (documented choice) W is the
    semi-orthogonal ``[Ds, Dt]`` matrix of rank ``r = min(Ds, Dt)``: for ``Ds < Dt`` it is an
    isometric embedding (``W W^T = I``); for ``Ds > Dt`` it keeps the ``Dt`` source directions
    most correlated with the target and rotates them (``W^T W = I``). ``scaled`` adds the
    optimal isotropic scale ``s = trace(S) / ||Xc||_F^2`` so the map also matches magnitudes.
    Returns ``(W, s)`` with ``s = 1`` when not scaled.
    """
    cross = xc.T @ yc
    u, s, vh = torch.linalg.svd(cross, full_matrices=False)
    weight = u @ vh
    scale = 1.0
    if scaled:
        denom = float((xc * xc).sum())
        if denom == 0.0:
            raise SafeSteerError("source anchors have zero variance; Procrustes alignment is undefined.")
        scale = float(s.sum()) / denom
    return weight, scale


def principal_basis(
    xc: torch.Tensor,
    gram: torch.Tensor | None = None,
    gram_is_dual: bool = False,
    energy: float = 0.99,
    max_rank: int = 512,
    exact_limit: int = 2048,
    n_iter: int = 2,
    seed: int = 0,
) -> tuple[torch.Tensor, float, torch.Tensor]:
    """Orthonormal basis ``[r, Ds]`` of the principal subspace of centred anchors ``xc [N, Ds]``.

    ``r`` is the smallest count of principal components holding ``energy`` of the anchors'
    total variance, capped at ``max_rank``. ``gram`` may be ``xc.T @ xc`` (``[Ds, Ds]``) or
    ``xc @ xc.T`` (``[N, N]``, then ``gram_is_dual=True``), reused from the ridge fit; the
    smaller one is built otherwise.
    Small Grams are decomposed exactly (eigh); larger ones by subspace iteration with
    oversampling. Returns ``(basis, captured_energy, singular_values [r])``.
    """
    n, ds = xc.shape
    if gram is None:
        gram_is_dual = ds > n
        gram = xc @ xc.T if gram_is_dual else xc.T @ xc
    primal = not gram_is_dual
    total = float(torch.diagonal(gram).sum())
    if total == 0.0:
        raise SafeSteerError("anchor activations have zero variance; use varied anchor prompts.")
    size = gram.shape[0]
    if size <= exact_limit:
        evals, evecs = torch.linalg.eigh(gram.to(torch.float64))
        evals, evecs = evals.flip(0), evecs.flip(1)
    else:
        q = min(size, max_rank + 16)
        gen = torch.Generator(device="cpu").manual_seed(seed)
        basis = torch.randn(size, q, generator=gen, dtype=gram.dtype).to(gram.device)
        for _ in range(n_iter):
            basis, _ = torch.linalg.qr(gram @ basis)
        small = basis.T @ gram @ basis
        evals, small_vecs = torch.linalg.eigh(small.to(torch.float64))
        evals, small_vecs = evals.flip(0), small_vecs.flip(1)
        evecs = basis.to(torch.float64) @ small_vecs
    evals = evals.clamp_min(0.0)
    cumulative = evals.cumsum(0) / total
    hit = torch.nonzero(cumulative >= energy)
    rank = int(hit[0]) + 1 if hit.numel() else int(evals.numel())
    rank = max(1, min(rank, max_rank, int((evals > evals[0] * 1e-12).sum())))
    top_vals, top_vecs = evals[:rank], evecs[:, :rank]
    if primal:
        basis_rows = top_vecs.T
    else:  # dual: principal directions are Xc^T u / sigma
        basis_rows = (xc.T @ top_vecs.to(xc.dtype)).T.to(torch.float64)
        basis_rows = basis_rows / basis_rows.norm(dim=1, keepdim=True)
    captured = float(top_vals.sum() / total)
    return basis_rows.to(torch.float32).contiguous(), captured, top_vals.sqrt().to(torch.float32)
