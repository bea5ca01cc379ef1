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


def row_gram(a: torch.Tensor, blocks: int = 8, min_rows: int = 1024) -> torch.Tensor:
    """``a @ a.T`` ``[n, n]`` for ``a [n, k]``, computing only the upper block triangle and mirroring it.

    The Gram is symmetric, so ``blocks`` row blocks each multiply against the rows from their own
    block on (``(blocks + 1) / (2 blocks)`` of the flops of a full product: 9/16 for 8 blocks): the
    symmetric rank-k update BLAS calls ``syrk``, which torch does not expose. Below ``min_rows`` rows
    it is the plain product. Pass ``xc.T`` for ``xc.T @ xc``.
    """
    n = a.shape[0]
    if n < min_rows or blocks < 2:
        return a @ a.T
    edges = [n * i // blocks for i in range(blocks + 1)]
    out = torch.empty(n, n, dtype=a.dtype, device=a.device)
    for lo, hi in zip(edges[:-1], edges[1:]):
        out[lo:hi, lo:] = a[lo:hi] @ a[lo:].T
        out[hi:, lo:hi] = out[lo:hi, hi:].T
    return out


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
        gram = row_gram(xc.T)
        system = gram.clone()
        system.diagonal().add_(lam)
        factor = _cholesky(system, lam)
        weight = torch.cholesky_solve((xc.T @ yc).to(factor.dtype), factor).to(xc.dtype)
        return RidgeSolution(weight=weight, dual_basis=None, dual_coef=None, gram=gram)
    gram = row_gram(xc)
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
        gram = row_gram(xc if gram_is_dual else xc.T)
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
    # the other factor in the anchors' precision (at least float32): its Gram, whose eigenvectors these
    # are, was formed in that precision, so a float64 product would not make it more accurate
    work = torch.promote_types(xc.dtype, torch.float32)
    ev = evecs.to(work)
    other = (xc.to(work) @ ev if not gram_is_dual else xc.to(work).T @ ev).to(torch.float64) / s
    u, v = (other, evecs) if not gram_is_dual else (evecs, other)
    return AnchorSpectrum(u=u.contiguous(), s=s, v=v.contiguous(), total_energy=total, exact=exact)


def spectral_targets(spectrum: AnchorSpectrum, yc: torch.Tensor) -> torch.Tensor:
    """``Z = U^T Yc [r, Dt]`` in the targets' precision (at least float32): the centred targets in the
    anchors' left singular basis.

    Formed once per fit and passed to :func:`ridge_loo_errors` and :func:`ridge_from_spectrum`, which
    otherwise form it themselves (one of the three ``N r Dt`` products of an automatic fit).
    """
    work = torch.promote_types(yc.dtype, torch.float32)
    return spectrum.u.to(work).T @ yc.to(work)


def ridge_loo_errors(spectrum: AnchorSpectrum, yc: torch.Tensor, lams: torch.Tensor,
                     z: torch.Tensor | None = None) -> torch.Tensor:
    """Leave-one-out squared error ``sum_i ||y_i - y_hat_{-i}(x_i)||^2`` of centred ridge, per lambda.

    Closed form on the spectrum: the hat matrix is ``H = U diag(f) U^T``, ``f = s^2 / (s^2 + lam)``,
    and the LOO residual of row i is ``r_i / (1 - h_ii)`` with ``r = Yc - H Yc`` (the anchors' mean
    is not refitted per left-out row). With ``Z = U^T Yc`` (:func:`spectral_targets`; pass it as ``z``
    to reuse it), ``Y_perp = Yc - U Z`` (what the spectrum cannot fit) and ``g = 1 - f = lam / (s^2 + lam)``,
    ``r_i = y_perp_i + (U diag(g) Z)_i``, so::

        ||r_i||^2 = ||y_perp_i||^2 + 2 sum_j g_j U_ij P_ij + (U G Q G U^T)_ii,   P = Y_perp Z^T, Q = Z Z^T

    No term cancels against ``||y_i||^2`` (``Y_perp`` is formed explicitly, and the other two carry the
    shrinkage ``g``), so the ``N r Dt`` products (``Z``, ``U Z``, ``P``) and the per-lambda ``O(N r^2)``
    quadratic term run in the targets' precision (float32 for float32 targets) and still resolve LOO
    differences far below float32's epsilon relative to ``||Yc||^2``; the sums run in float64.
    Returns ``[len(lams)]`` float64.
    """
    work = torch.promote_types(yc.dtype, torch.float32)
    u_w, y = spectrum.u.to(work), yc.to(work)
    z = spectral_targets(spectrum, yc) if z is None else z.to(work)
    y_perp = y - u_w @ z                                                # [N, Dt]
    y_perp_sq = (y_perp * y_perp).sum(1, dtype=torch.float64)
    p_perp = (y_perp @ z.T).to(torch.float64)                           # [N, r]
    del y_perp
    q_w = z @ z.T                                                       # [r, r]
    u = spectrum.u
    s2 = spectrum.s.unsqueeze(1) ** 2
    lam_row = lams.to(torch.float64).unsqueeze(0)
    g = lam_row / (s2 + lam_row)                                        # [r, L]
    h = (u * u) @ (s2 / (s2 + lam_row))                                 # [N, L] hat diagonals
    cross = (u * p_perp) @ g                                            # [N, L]
    g_w = g.to(work)
    out = torch.empty(g.shape[1], dtype=torch.float64)
    for i in range(g.shape[1]):
        ug = u_w * g_w[:, i]
        quad = ((ug @ q_w) * ug).sum(1, dtype=torch.float64)
        resid_sq = y_perp_sq + 2.0 * cross[:, i] + quad
        out[i] = (resid_sq.clamp_min(0.0) / (1.0 - h[:, i]).clamp_min(1e-12) ** 2).sum()
    return out


def ridge_from_spectrum(spectrum: AnchorSpectrum, xc: torch.Tensor, yc: torch.Tensor, lam: float,
                        dual: bool, z: torch.Tensor | None = None) -> RidgeSolution:
    """Ridge at one ``lam`` from the spectrum: ``W = V diag(s / (s^2 + lam)) U^T Yc``.

    ``dual`` stores ``dual_basis = Xc``, ``dual_coef = U diag(1 / (s^2 + lam)) U^T Yc`` (so that
    ``Xc^T coef = W``, as ``Xc^T U = V diag(s)``), never forming ``[Ds, Dt]``. ``z``: ``U^T Yc`` if
    already formed (:func:`spectral_targets`). The final ``N r Dt`` (or ``Ds r Dt``) product runs in the
    anchors' precision (at least float32), the precision the map is stored in.
    """
    z = (spectral_targets(spectrum, yc) if z is None else z).to(torch.float64)
    s2 = spectrum.s ** 2
    gram = torch.empty(0)
    work = torch.promote_types(xc.dtype, torch.float32)
    if dual:
        coef = spectrum.u.to(work) @ (z / (s2 + lam).unsqueeze(1)).to(work)
        return RidgeSolution(weight=None, dual_basis=xc, dual_coef=coef.to(xc.dtype), gram=gram)
    weight = spectrum.v.to(work) @ (z * (spectrum.s / (s2 + lam)).unsqueeze(1)).to(work)
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
