"""Tests for steering_core.directions.metrics against brute-force numpy references and hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from steering_core.errors import NonFiniteError, SafeSteerError
from steering_core.directions.metrics import auroc, calibrate_threshold, projection_scores, r_squared

pytestmark = pytest.mark.host_independent


def _brute_auroc(pos: np.ndarray, neg: np.ndarray) -> float:
    """P(pos > neg) + 0.5 P(pos == neg) over all pairs."""
    p = np.asarray(pos, dtype=np.float64)[:, None]
    n = np.asarray(neg, dtype=np.float64)[None, :]
    return float(((p > n).sum() + 0.5 * (p == n).sum()) / (p.size * n.size))


# ---------------------------------------------------------------------- auroc
@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_auroc_random_floats_matches_pairwise_count(seed: int) -> None:
    """AUROC of random continuous scores equals the brute-force pairwise count."""
    rng = np.random.default_rng(seed)
    pos = rng.normal(loc=0.5, size=rng.integers(1, 60))
    neg = rng.normal(size=rng.integers(1, 60))
    assert auroc(torch.from_numpy(pos), torch.from_numpy(neg)) == pytest.approx(_brute_auroc(pos, neg), abs=1e-12)


@pytest.mark.parametrize("seed", [10, 11, 12, 13, 14, 15])
def test_auroc_integer_scores_with_many_ties(seed: int) -> None:
    """Small-integer scores (many ties within and across groups) count ties as one half."""
    rng = np.random.default_rng(seed)
    pos = rng.integers(0, 4, size=rng.integers(1, 40))
    neg = rng.integers(0, 3, size=rng.integers(1, 40))
    expected = _brute_auroc(pos, neg)
    assert auroc(pos, neg) == pytest.approx(expected, abs=1e-12)  # numpy int arrays
    assert auroc(pos.tolist(), neg.tolist()) == pytest.approx(expected, abs=1e-12)  # plain lists
    assert auroc(torch.from_numpy(pos).float(), torch.from_numpy(neg).float()) == pytest.approx(expected, abs=1e-12)


def test_auroc_hand_case() -> None:
    """pos [0.9, 0.8, 0.4] vs neg [0.5, 0.3]: 5 of 6 pairs ordered correctly -> 5/6."""
    assert auroc([0.9, 0.8, 0.4], [0.5, 0.3]) == pytest.approx(5 / 6, abs=1e-15)


def test_auroc_hand_case_with_ties() -> None:
    """pos [1, 2, 2] vs neg [2, 0]: wins 1>0, 2>0, 2>0 = 3, ties 2=2 twice = 1 -> 4/6."""
    assert auroc([1, 2, 2], [2, 0]) == pytest.approx(4 / 6, abs=1e-15)


def test_auroc_all_tied_is_half() -> None:
    assert auroc([0.3, 0.3, 0.3], [0.3, 0.3]) == 0.5


def test_auroc_perfect_and_reversed() -> None:
    """Perfect separation gives 1.0; swapping the groups gives 0.0."""
    pos, neg = [3.0, 4.0, 5.5], [-1.0, 0.0, 2.9, 1.0]
    assert auroc(pos, neg) == 1.0
    assert auroc(neg, pos) == 0.0


def test_auroc_is_complementary() -> None:
    """auroc(a, b) + auroc(b, a) == 1 on tied data."""
    rng = np.random.default_rng(7)
    a, b = rng.integers(0, 5, 30), rng.integers(0, 5, 25)
    assert auroc(a, b) + auroc(b, a) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("pos,neg", [([], [1.0]), ([1.0], []), ([], [])])
def test_auroc_empty_raises(pos: list, neg: list) -> None:
    with pytest.raises(SafeSteerError):
        auroc(pos, neg)


@pytest.mark.parametrize("pos,neg", [([1.0, math.nan], [0.0]), ([1.0], [math.nan]), ([math.inf, 1.0], [0.0])])
def test_auroc_nonfinite_raises(pos: list, neg: list) -> None:
    with pytest.raises(NonFiniteError):
        auroc(pos, neg)


# ---------------------------------------------------------------------- calibrate_threshold
def test_calibrate_threshold_hand_cases() -> None:
    """Sorted [1, 2, 3, 4, 5]: rate 0.2 -> index 1 (score 2), midpoint with 1 -> 1.5;
    rate 0 -> minimum 1 minus half the gap to 2 -> 0.5; rate 0.4 -> index 2 -> 2.5."""
    scores = [5, 1, 3, 2, 4]
    assert calibrate_threshold(scores, 0.2) == 1.5
    assert calibrate_threshold(scores, 0.0) == 0.5
    assert calibrate_threshold(scores, 0.39) == 1.5
    assert calibrate_threshold(scores, 0.4) == 2.5
    assert calibrate_threshold([2.0, 2.0, 2.0], 0.5) == pytest.approx(2.0 - 2e-3)


RATES = [0.0, 0.01, 0.05, 0.1, 0.2, 0.25, 0.5, 0.9, 0.99]


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("ties", [False, True])
def test_calibrate_threshold_rate_property(seed: int, ties: bool) -> None:
    """Share strictly below the threshold is <= rate; the threshold sits strictly between two
    neighbouring distinct scores; and it is tight: the next score up already exceeds the rate."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 300))
    scores = rng.integers(-3, 4, size=n).astype(np.float64) if ties else rng.normal(size=n)
    distinct = np.unique(scores)
    for rate in RATES:
        thr = calibrate_threshold(torch.from_numpy(scores), rate)
        assert thr not in set(scores.tolist())
        below = float(np.mean(scores < thr))
        assert below <= rate, (rate, n, thr)
        next_up = distinct[distinct > thr].min()
        assert float(np.mean(scores <= next_up)) > rate, (rate, n, thr)
        lower = distinct[distinct < thr]
        if lower.size:
            assert thr == pytest.approx((lower.max() + next_up) / 2)


@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5, math.nan])
def test_calibrate_threshold_invalid_rate_raises(rate: float) -> None:
    with pytest.raises(SafeSteerError, match="false_positive_rate"):
        calibrate_threshold([1.0, 2.0, 3.0], rate)


def test_calibrate_threshold_empty_and_nan_raise() -> None:
    with pytest.raises(SafeSteerError):
        calibrate_threshold([], 0.1)
    with pytest.raises(NonFiniteError):
        calibrate_threshold([1.0, math.nan], 0.1)


# ---------------------------------------------------------------------- projection_scores
def test_projection_scores_single_direction() -> None:
    """[N, D] activations on a [D] direction: acts @ (v / |v|)."""
    rng = np.random.default_rng(0)
    acts, v = rng.normal(size=(9, 6)), rng.normal(size=6) * 3.7
    out = projection_scores(torch.from_numpy(acts), torch.from_numpy(v))
    assert out.shape == (9,)
    np.testing.assert_allclose(out.numpy(), acts @ (v / np.linalg.norm(v)), rtol=1e-12, atol=1e-12)


def test_projection_scores_several_directions_and_batch_dims() -> None:
    """[B, N, D] activations on [K, D] directions -> [B, N, K], each row normalised separately."""
    rng = np.random.default_rng(1)
    acts, vs = rng.normal(size=(2, 5, 6)), rng.normal(size=(3, 6)) * np.array([[0.1], [1.0], [20.0]])
    out = projection_scores(torch.from_numpy(acts), torch.from_numpy(vs))
    assert out.shape == (2, 5, 3)
    unit = vs / np.linalg.norm(vs, axis=1, keepdims=True)
    ref = np.einsum("bnd,kd->bnk", acts, unit)
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-12, atol=1e-12)


def test_projection_scores_float32_inputs() -> None:
    """float32 inputs give float32 results close to the float64 reference."""
    rng = np.random.default_rng(2)
    acts, vs = rng.normal(size=(4, 8)).astype(np.float32), rng.normal(size=(2, 8)).astype(np.float32)
    out = projection_scores(torch.from_numpy(acts), torch.from_numpy(vs))
    assert out.dtype == torch.float32
    unit = vs.astype(np.float64) / np.linalg.norm(vs.astype(np.float64), axis=1, keepdims=True)
    np.testing.assert_allclose(out.numpy(), acts.astype(np.float64) @ unit.T, rtol=1e-5, atol=1e-5)


def test_projection_scores_errors() -> None:
    """A zero direction and a hidden-size mismatch both raise SafeSteerError."""
    with pytest.raises(SafeSteerError, match="zero norm"):
        projection_scores(torch.randn(3, 4), torch.zeros(4))
    with pytest.raises(SafeSteerError, match="hidden size"):
        projection_scores(torch.randn(3, 4), torch.randn(5))


# ---------------------------------------------------------------------- r_squared
def _ref_r2(y: np.ndarray, yhat: np.ndarray, mean: np.ndarray | None = None) -> float:
    mu = y.mean(axis=0) if mean is None else mean
    return float(1.0 - ((y - yhat) ** 2).sum() / ((y - mu) ** 2).sum())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_r_squared_matches_numpy(seed: int) -> None:
    """Pooled R^2 over all output dims, with the target's own mean and with a reference mean."""
    rng = np.random.default_rng(seed)
    y = rng.normal(size=(20, 4)) * np.array([1.0, 5.0, 0.1, 2.0])
    yhat = y + rng.normal(scale=0.5, size=y.shape)
    ref_mean = rng.normal(size=4)
    assert r_squared(torch.from_numpy(y), torch.from_numpy(yhat)) == pytest.approx(_ref_r2(y, yhat), abs=1e-12)
    assert r_squared(torch.from_numpy(y), torch.from_numpy(yhat), torch.from_numpy(ref_mean)) == pytest.approx(
        _ref_r2(y, yhat, ref_mean), abs=1e-12)


def test_r_squared_hand_values() -> None:
    """Perfect prediction -> 1; predicting the mean -> 0; y=[0,2], yhat=[1,1] with ref mean 0 -> 1 - 2/4 = 0.5."""
    y = torch.tensor([[1.0, 2.0], [3.0, 5.0], [2.0, 2.0]])
    assert r_squared(y, y) == 1.0
    assert r_squared(y, y.mean(0).expand_as(y)) == pytest.approx(0.0, abs=1e-15)
    assert r_squared(torch.tensor([[0.0], [2.0]]), torch.tensor([[1.0], [1.0]]), torch.tensor([0.0])) == 0.5


def test_r_squared_zero_variance_raises() -> None:
    """Constant targets (around their own mean, or around an equal reference mean) raise SafeSteerError."""
    y = torch.ones(5, 3) * torch.tensor([1.0, 2.0, 3.0])
    with pytest.raises(SafeSteerError, match="zero variance"):
        r_squared(y, y + 0.1)
    with pytest.raises(SafeSteerError, match="zero variance"):
        r_squared(y, y + 0.1, torch.tensor([1.0, 2.0, 3.0]))
