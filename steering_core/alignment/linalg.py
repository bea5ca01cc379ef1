"""Closed-form linear algebra for alignment maps: ridge, orthogonal Procrustes, principal bases.

Row convention throughout: activations are rows, ``X [N, Ds]``, and a linear map is
``W [Ds, Dt]`` applied as ``X @ W``. Inputs here are already centred.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import SafeSteerError


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


@dataclass(frozen=True)
class AnchorSpectrum:
    """Thin spectral factors of centred anchors ``Xc [N, Ds] ~= U diag(s) V^T`` (float64).

    ``u [N, r]`` and ``v [Ds, r]`` have orthonormal columns, ``s [r]`` is descending and positive.
    ``exact``: all non-zero components are kept (an eigendecomposition of the smaller Gram);
    otherwise the top ``r`` components come from subspace iteration and the rest (whose share of
    the energy is ``1 - captured``) are dropped. ``total_energy = ||Xc||_F^2``.
    """

    u: torch.Tensor
    s: torch.Tensor
    v: torch.Tensor
    total_energy: float
    exact: bool

    @property
    def rank(self) -> int:
        return int(self.s.numel())

    @property
    def captured(self) -> float:
        return float((self.s ** 2).sum()) / self.total_energy


def anchor_spectrum(
    xc: torch.Tensor,
    gram: torch.Tensor | None = None,
    gram_is_dual: bool = False,
    max_rank: int = 512,
    exact_limit: int = 2048,
    n_iter: int = 2,
    seed: int = 0,
) -> AnchorSpectrum:
    """The one factorisation of the anchors that ridge (every lambda), its LOO curve and coverage reuse.

    Decomposes the smaller Gram (``xc.T @ xc`` ``[Ds, Ds]`` or ``xc @ xc.T`` ``[N, N]``; pass it as
    ``gram`` to reuse it). Grams up to ``exact_limit`` are decomposed exactly (eigh); larger ones by
    subspace iteration keeping the top ``max_rank`` components. The other factor follows from
    ``Xc v = s u`` (primal) or ``Xc^T u = s v`` (dual).
    """
    n, ds = xc.shape
    if gram is None:
        gram_is_dual = ds > n
        gram = xc @ xc.T if gram_is_dual else xc.T @ xc
    total = float(torch.diagonal(gram).sum())
    if total == 0.0:
        raise SafeSteerError("anchor activations have zero variance; use varied anchor prompts.")
    size = gram.shape[0]
    exact = size <= exact_limit
    if exact:
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
        evals, small_vecs = evals.flip(0)[:max_rank], small_vecs.flip(1)[:, :max_rank]
        evecs = basis.to(torch.float64) @ small_vecs
    keep = evals > max(float(evals[0]), 0.0) * 1e-12
    evals, evecs = evals[keep], evecs[:, keep]
    s = evals.sqrt()
    other = (xc.to(torch.float64) @ evecs if not gram_is_dual else xc.to(torch.float64).T @ evecs) / s
    u, v = (other, evecs) if not gram_is_dual else (evecs, other)
    return AnchorSpectrum(u=u.contiguous(), s=s, v=v.contiguous(), total_energy=total, exact=exact)


def ridge_loo_errors(spectrum: AnchorSpectrum, yc: torch.Tensor, lams: torch.Tensor) -> torch.Tensor:
    """Leave-one-out squared error ``sum_i ||y_i - y_hat_{-i}(x_i)||^2`` of centred ridge, per lambda.

    Closed form on the spectrum: the hat matrix is ``H = U diag(f) U^T``, ``f = s^2 / (s^2 + lam)``,
    and the LOO residual of row i is ``r_i / (1 - h_ii)`` with ``r = Yc - H Yc`` (the anchors' mean
    is not refitted per left-out row). With ``Z = U^T Yc``, ``P = Yc Z^T`` and ``Q = Z Z^T``:
    ``||r_i||^2 = ||y_i||^2 - 2 sum_j f_j U_ij P_ij + (U F Q F U^T)_ii``, so each lambda costs
    ``O(N r^2)`` and never touches ``Dt``. Returns ``[len(lams)]`` float64.
    """
    u, y = spectrum.u, yc.to(torch.float64)
    z = u.T @ y
    p, q = y @ z.T, z @ z.T
    y_sq = (y * y).sum(1)
    s2 = spectrum.s ** 2
    out = torch.empty(len(lams), dtype=torch.float64)
    for i, lam in enumerate(lams.tolist()):
        f = s2 / (s2 + lam)
        uf = u * f
        h = (u * uf).sum(1)
        resid_sq = y_sq - 2.0 * (uf * p).sum(1) + ((uf @ q) * uf).sum(1)
        out[i] = (resid_sq.clamp_min(0.0) / (1.0 - h).clamp_min(1e-12) ** 2).sum()
    return out


def ridge_from_spectrum(spectrum: AnchorSpectrum, xc: torch.Tensor, yc: torch.Tensor, lam: float,
                        dual: bool) -> RidgeSolution:
    """Ridge at one ``lam`` from the spectrum: ``W = V diag(s / (s^2 + lam)) U^T Yc``.

    ``dual`` stores ``dual_basis = Xc``, ``dual_coef = U diag(1 / (s^2 + lam)) U^T Yc`` (so that
    ``Xc^T coef = W``, as ``Xc^T U = V diag(s)``), never forming ``[Ds, Dt]``.
    """
    z = spectrum.u.T @ yc.to(torch.float64)
    s2 = spectrum.s ** 2
    gram = torch.empty(0)
    if dual:
        coef = spectrum.u @ (z / (s2 + lam).unsqueeze(1))
        return RidgeSolution(weight=None, dual_basis=xc, dual_coef=coef.to(xc.dtype), gram=gram)
    weight = spectrum.v @ (z * (spectrum.s / (s2 + lam)).unsqueeze(1))
    return RidgeSolution(weight=weight.to(xc.dtype), dual_basis=None, dual_coef=None, gram=gram)


def principal_basis(
    xc: torch.Tensor,
    gram: torch.Tensor | None = None,
    gram_is_dual: bool = False,
    energy: float = 0.99,
    max_rank: int = 512,
    exact_limit: int = 2048,
    n_iter: int = 2,
    seed: int = 0,
    spectrum: AnchorSpectrum | None = None,
) -> tuple[torch.Tensor, float, torch.Tensor]:
    """Orthonormal basis ``[r, Ds]`` of the principal subspace of centred anchors ``xc [N, Ds]``.

    ``r`` is the smallest count of principal components holding ``energy`` of the anchors'
    total variance, capped at ``max_rank``. ``gram`` may be ``xc.T @ xc`` (``[Ds, Ds]``) or
    ``xc @ xc.T`` (``[N, N]``, then ``gram_is_dual=True``), reused from the ridge fit, or the
    whole ``spectrum`` (:func:`anchor_spectrum`) may be passed; the smaller Gram is built otherwise.
    Returns ``(basis, captured_energy, singular_values [r])``.
    """
    if spectrum is None:
        spectrum = anchor_spectrum(xc, gram, gram_is_dual, max_rank=max_rank, exact_limit=exact_limit,
                                   n_iter=n_iter, seed=seed)
    evals = spectrum.s ** 2
    cumulative = evals.cumsum(0) / spectrum.total_energy
    hit = torch.nonzero(cumulative >= energy)
    rank = int(hit[0]) + 1 if hit.numel() else int(evals.numel())
    rank = max(1, min(rank, max_rank, int(evals.numel())))
    basis_rows = spectrum.v[:, :rank].T
    basis_rows = basis_rows / basis_rows.norm(dim=1, keepdim=True)
    captured = float(evals[:rank].sum() / spectrum.total_energy)
    return basis_rows.to(torch.float32).contiguous(), captured, spectrum.s[:rank].to(torch.float32)
