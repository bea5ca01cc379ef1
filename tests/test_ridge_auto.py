"""Ridge with lam="auto": the closed-form LOO curve against brute-force leave-one-out refits."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import steering_core as sc
from steering_core.alignment.maps import AUTO_LAMS
from steering_core.alignment.linalg import anchor_spectrum, ridge_loo_errors, row_gram

pytestmark = pytest.mark.host_independent


def _brute_loo(xc: np.ndarray, yc: np.ndarray, lam: float) -> float:
    """Refit ridge without row i (same centred data, no intercept refit), sum of squared errors."""
    total = 0.0
    for i in range(xc.shape[0]):
        keep = np.arange(xc.shape[0]) != i
        x, y = xc[keep], yc[keep]
        w = np.linalg.solve(x.T @ x + lam * np.eye(xc.shape[1]), x.T @ y)
        total += float(((yc[i] - xc[i] @ w) ** 2).sum())
    return total


def _data(n: int, ds: int, dt: int, noise: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, ds)) * rng.uniform(0.2, 3.0, size=ds) + 1.0
    y = x @ rng.normal(size=(ds, dt)) / np.sqrt(ds) + noise * rng.normal(size=(n, dt)) - 2.0
    return x, y


@pytest.mark.parametrize("n,ds,dt", [(40, 8, 5), (14, 30, 6)])  # primal and dual Grams
def test_loo_curve_matches_brute_force_refits(n: int, ds: int, dt: int) -> None:
    x, y = _data(n, ds, dt, 0.5, n)
    xc, yc = x - x.mean(0), y - y.mean(0)
    lams = np.array([1e-3, 0.1, 1.0, 10.0, 300.0])
    got = ridge_loo_errors(anchor_spectrum(torch.tensor(xc)), torch.tensor(yc), torch.tensor(lams)).numpy()
    expected = np.array([_brute_loo(xc, yc, lam) for lam in lams])
    np.testing.assert_allclose(got, expected, rtol=1e-6)


@pytest.mark.parametrize("n,ds,dt", [(60, 10, 4), (25, 40, 3)])
def test_auto_picks_the_brute_force_minimum_and_fits_that_ridge(n: int, ds: int, dt: int) -> None:
    x, y = _data(n, ds, dt, 1.0, 7)
    a = sc.fit_alignment(x, y, "ridge", holdout=0)  # lam="auto" is the default
    xc, yc = x - x.mean(0), y - y.mean(0)
    unit = (xc ** 2).sum() / ds
    brute = [_brute_loo(xc, yc, lam * unit) for lam in AUTO_LAMS]
    best = AUTO_LAMS[int(np.argmin(brute))]
    assert a.settings["lam"] == "auto"
    assert a.settings["lam_selected"] == pytest.approx(best)
    assert a.settings["loo_r2"] == pytest.approx(1 - min(brute) / (yc ** 2).sum(), rel=1e-6)
    w = np.linalg.solve(xc.T @ xc + best * unit * np.eye(ds), xc.T @ yc)
    probe = np.random.default_rng(1).normal(size=(4, ds))
    np.testing.assert_allclose(a.transform(probe).numpy(), (probe - x.mean(0)) @ w + y.mean(0), rtol=1e-4, atol=1e-4)


def test_auto_strength_follows_the_noise() -> None:
    """A clean linear target needs little shrinkage; a pure-noise target gets heavy shrinkage."""
    x, y_clean = _data(200, 20, 6, 0.01, 3)
    noise = np.random.default_rng(4).normal(size=(200, 6))
    clean = sc.fit_alignment(x, y_clean, "ridge", holdout=0)
    noisy = sc.fit_alignment(x, noise, "ridge", holdout=0)
    assert clean.settings["lam_selected"] <= 1e-2 and clean.settings["loo_r2"] > 0.99
    assert noisy.settings["lam_selected"] >= 10.0 and noisy.settings["loo_r2"] < 0.02


def test_truncated_spectrum_equals_exact_on_low_rank_anchors() -> None:
    """Subspace iteration (Gram above exact_limit) finds the same components when the rank is small."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(80, 6)) @ rng.normal(size=(6, 50))
    xc = torch.tensor(x - x.mean(0))
    y = torch.tensor(rng.normal(size=(80, 3)))
    exact = anchor_spectrum(xc)
    approx = anchor_spectrum(xc, exact_limit=0, max_rank=10, n_iter=4)
    assert exact.exact and not approx.exact and approx.rank == exact.rank == 6
    lams = torch.tensor([1e-2, 1.0, 100.0])
    np.testing.assert_allclose(ridge_loo_errors(approx, y, lams).numpy(), ridge_loo_errors(exact, y, lams).numpy(), rtol=1e-6)


def test_row_gram_equals_the_full_product() -> None:
    """The block-triangle Gram (uneven blocks, both orientations) against numpy's product."""
    rng = np.random.default_rng(8)
    a = rng.normal(size=(1030, 37))
    got = row_gram(torch.tensor(a)).numpy()
    np.testing.assert_allclose(got, a @ a.T, rtol=1e-12, atol=1e-12)
    assert np.array_equal(got, got.T)
    b = rng.normal(size=(3, 1100))
    np.testing.assert_allclose(row_gram(torch.tensor(b).T).numpy(), b.T @ b, rtol=1e-12, atol=1e-12)


def test_float32_targets_give_the_float64_loo_curve_on_a_near_perfect_fit() -> None:
    """With LOO R^2 ~ 0.9999 the curve's differences are ~1e-4 of ||Yc||^2 and below; float32 targets
    (float32 products) must still reproduce the float64 curve to 1e-5 relative and pick the same strength."""
    x, y = _data(150, 300, 40, 0.01, 9)
    xc, yc = torch.tensor(x - x.mean(0)), torch.tensor(y - y.mean(0))
    spectrum = anchor_spectrum(xc)
    unit = float((xc ** 2).sum()) / xc.shape[1]
    lams = torch.tensor(AUTO_LAMS, dtype=torch.float64) * unit
    wide = ridge_loo_errors(spectrum, yc, lams).numpy()
    narrow = ridge_loo_errors(spectrum, yc.float(), lams).numpy()
    assert 1 - wide.min() / float((yc ** 2).sum()) > 0.999
    np.testing.assert_allclose(narrow, wide, rtol=1e-5)
    assert int(np.argmin(narrow)) == int(np.argmin(wide))
