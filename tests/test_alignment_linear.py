"""Ridge and Procrustes maps against numpy closed forms; beta, coverage and principal basis."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import steering_core as sc
from steering_core.alignment.linalg import principal_basis

pytestmark = pytest.mark.host_independent


def _np_ridge(x: np.ndarray, y: np.ndarray, lam: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    mx, my = x.mean(0), y.mean(0)
    xc, yc = x - mx, y - my
    w = np.linalg.solve(xc.T @ xc + lam * np.eye(x.shape[1]), xc.T @ yc)
    return w, mx, my


@pytest.mark.parametrize("n,ds,dt", [(200, 20, 12), (30, 80, 16)])  # primal and dual solves
def test_ridge_matches_numpy_closed_form(n: int, ds: int, dt: int) -> None:
    rng = np.random.default_rng(n)
    x = rng.normal(size=(n, ds)) * 3 + 1
    y = x @ rng.normal(size=(ds, dt)) + rng.normal(size=(n, dt)) + 2
    a = sc.fit_alignment(torch.tensor(x), torch.tensor(y), "ridge", lam=0.7, lam_mode="absolute", holdout=0)
    assert a.settings["solve"] == ("primal" if n >= ds else "dual")
    w, mx, my = _np_ridge(x, y, 0.7)
    probe = rng.normal(size=(5, ds))
    np.testing.assert_allclose(a.transform(torch.tensor(probe)).numpy(), (probe - mx) @ w + my, rtol=1e-4, atol=1e-4)
    v = rng.normal(size=ds)
    pushed = a.push_vectors(torch.tensor(v)[None])[0].numpy()
    np.testing.assert_allclose(pushed, v @ w, rtol=1e-4, atol=1e-4)


def test_relative_lambda_is_scaled_by_mean_anchor_variance() -> None:
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(50, 10)) * 5, rng.normal(size=(50, 4))
    rel = sc.fit_alignment(x, y, "ridge", lam=0.1, holdout=0)
    xc = x - x.mean(0)
    lam_abs = 0.1 * (xc ** 2).sum() / x.shape[1]
    assert rel.settings["lam_absolute"] == pytest.approx(lam_abs, rel=1e-5)
    w, mx, my = _np_ridge(x, y, lam_abs)
    np.testing.assert_allclose(rel.transform(x[:3]).numpy(), (x[:3] - mx) @ w + my, rtol=1e-4, atol=1e-5)


def test_ridge_stable_at_8192_dims_with_few_anchors() -> None:
    rng = np.random.default_rng(2)
    n, ds, dt = 64, 8192, 24
    x = rng.normal(size=(n, ds)).astype(np.float32)
    y = (x[:, :dt] * 2 + 0.1 * rng.normal(size=(n, dt))).astype(np.float32)
    a = sc.fit_alignment(x, y, "ridge", lam=1.0, lam_mode="absolute", holdout=0)
    xc, yc = x.astype(np.float64) - x.mean(0), y.astype(np.float64) - y.mean(0)
    coef = np.linalg.solve(xc @ xc.T + np.eye(n), yc)  # dual closed form
    probe = rng.normal(size=(3, ds))
    expected = (probe - x.mean(0)) @ xc.T @ coef + y.mean(0)
    got = a.transform(torch.tensor(probe)).numpy()
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, expected, rtol=2e-3, atol=2e-3)


def test_beta_is_ratio_of_median_centred_norms() -> None:
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(41, 6)), rng.normal(size=(41, 9)) * 4
    a = sc.fit_alignment(x, y, "ridge", holdout=0)
    expected = np.median(np.linalg.norm(y - y.mean(0), axis=1)) / np.median(np.linalg.norm(x - x.mean(0), axis=1))
    assert a.beta == pytest.approx(expected, rel=1e-5)


def test_held_out_r2_high_for_linear_data_and_low_for_noise() -> None:
    rng = np.random.default_rng(4)
    x = rng.normal(size=(300, 12))
    linear = sc.fit_alignment(x, x @ rng.normal(size=(12, 7)), "ridge", lam=1e-6)
    assert linear.diagnostics["n_holdout"] == 30
    assert linear.held_out_r2 > 0.999
    noise = sc.fit_alignment(x, rng.normal(size=(300, 7)), "ridge")
    assert noise.held_out_r2 < 0.1


def test_coverage_is_energy_inside_anchor_principal_subspace() -> None:
    rng = np.random.default_rng(5)
    n, d = 20, 50
    x = rng.normal(size=(n, d))
    a = sc.fit_alignment(x, rng.normal(size=(n, 5)), "ridge", holdout=0, coverage_energy=1.0)
    xc = x - x.mean(0)
    _, s, vt = np.linalg.svd(xc, full_matrices=False)
    span = vt[s > 1e-9 * s[0]]
    inside = span.T @ rng.normal(size=span.shape[0])
    outside = rng.normal(size=d)
    outside -= span.T @ (span @ outside)
    mixed = inside / np.linalg.norm(inside) + outside / np.linalg.norm(outside)
    cov = a.coverage(torch.tensor(np.stack([inside, outside, mixed]))).numpy()
    np.testing.assert_allclose(cov, [1.0, 0.0, 0.5], atol=1e-4)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t = a.transport(torch.tensor(mixed + 0.1 * outside))
    assert any(issubclass(w.category, sc.LowCoverageWarning) for w in caught)
    assert sc.transport_report(t).rows[0].coverage < 0.5


@pytest.mark.parametrize("n,d", [(40, 12), (12, 40)])
def test_principal_basis_dual_and_primal_agree_with_numpy(n: int, d: int) -> None:
    rng = np.random.default_rng(6)
    x = rng.normal(size=(n, d)) * np.linspace(3, 0.1, d)
    xc = torch.tensor(x - x.mean(0))
    expected_vt = np.linalg.svd(xc.numpy(), full_matrices=False)[2][:4]
    for gram, dual in ((xc.T @ xc, False), (xc @ xc.T, True)):
        basis, energy, _ = principal_basis(xc, gram=gram, gram_is_dual=dual, energy=1.0, max_rank=4)
        np.testing.assert_allclose(basis.double().T @ basis.double(), expected_vt.T @ expected_vt, atol=1e-5)
        s2 = np.linalg.svd(xc.numpy(), compute_uv=False) ** 2
        assert energy == pytest.approx(s2[:4].sum() / s2.sum(), rel=1e-6)


def test_subspace_iteration_matches_exact_eigh() -> None:
    rng = np.random.default_rng(7)
    x = torch.tensor(rng.normal(size=(300, 120)) * (0.8 ** np.arange(120)))
    xc = x - x.mean(0)
    exact, _, _ = principal_basis(xc, energy=1.0, max_rank=8)
    iterative, _, _ = principal_basis(xc, energy=1.0, max_rank=8, exact_limit=10)
    np.testing.assert_allclose((iterative.T @ iterative).numpy(), (exact.T @ exact).numpy(), atol=1e-4)


def test_procrustes_recovers_rotation_and_scale() -> None:
    rng = np.random.default_rng(8)
    q, _ = np.linalg.qr(rng.normal(size=(10, 10)))
    x = rng.normal(size=(100, 10))
    y = 2.5 * x @ q + 4
    a = sc.fit_alignment(x, y, "procrustes", holdout=0)
    np.testing.assert_allclose(a.params["map.weight"].numpy(), q, atol=1e-4)
    assert a.settings["scale"] == pytest.approx(2.5, rel=1e-4)
    np.testing.assert_allclose(a.transform(x[:4]).numpy(), y[:4], atol=1e-3)
    # closed form on noisy data: W = U V^T of svd(Xc^T Yc)
    y_noisy = y + rng.normal(size=y.shape)
    b = sc.fit_alignment(x, y_noisy, "procrustes", holdout=0, scaled=False)
    u, _, vt = np.linalg.svd((x - x.mean(0)).T @ (y_noisy - y_noisy.mean(0)))
    np.testing.assert_allclose(b.params["map.weight"].numpy(), u @ vt, atol=1e-4)


@pytest.mark.parametrize("ds,dt", [(6, 10), (10, 6)])
def test_procrustes_semi_orthogonal_when_dims_differ(ds: int, dt: int) -> None:
    rng = np.random.default_rng(9)
    a = sc.fit_alignment(rng.normal(size=(60, ds)), rng.normal(size=(60, dt)), "procrustes", holdout=0)
    w = a.params["map.weight"].double()
    eye = torch.eye(min(ds, dt), dtype=torch.float64)
    gram = w @ w.T if ds < dt else w.T @ w
    torch.testing.assert_close(gram, eye, atol=1e-5, rtol=0)


def test_alignment_input_errors() -> None:
    with pytest.raises(sc.SafeSteerError, match="same anchor prompts"):
        sc.fit_alignment(np.ones((10, 4)), np.ones((9, 4)))
    with pytest.raises(sc.SafeSteerError, match="unknown alignment kind"):
        sc.fit_alignment(np.ones((10, 4)), np.ones((10, 4)), "svd-ish")
    with pytest.raises(sc.SafeSteerError, match=r"pooled \[N, D\]"):
        sc.fit_alignment(np.ones((10, 3, 4)), np.ones((10, 4)))
    bad = np.random.default_rng(0).normal(size=(10, 4))
    bad[0, 0] = np.inf
    with pytest.raises(sc.NonFiniteError):
        sc.fit_alignment(bad, np.ones((10, 4)))
    a = sc.fit_alignment(np.random.default_rng(1).normal(size=(20, 4)), np.random.default_rng(2).normal(size=(20, 3)))
    with pytest.raises(sc.DimensionMismatchError, match="hidden size 5"):
        a.transport(torch.randn(5))
    with pytest.raises(sc.DimensionMismatchError):
        a.transform(torch.randn(2, 7))
