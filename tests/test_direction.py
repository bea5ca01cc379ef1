"""Diff-of-means directions, categories, orthogonalisation and gate calibration against numpy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import steering_core as sc

pytestmark = pytest.mark.host_independent


def _np_unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def test_pooled_direction_matches_numpy_diff_of_means() -> None:
    rng = np.random.default_rng(0)
    safe, unsafe = rng.normal(size=(30, 16)) + 0.5, rng.normal(size=(25, 16))
    d = sc.estimate_direction(safe, unsafe, pooling="pooled")
    raw = safe.mean(0) - unsafe.mean(0)
    np.testing.assert_allclose(d.vectors[0].numpy(), _np_unit(raw), rtol=1e-5, atol=1e-6)
    assert d.scale[0].item() == pytest.approx(np.linalg.norm(raw), rel=1e-5)
    assert d.categories == ("global",)
    # sign convention: safe projects higher than unsafe
    assert float(d.scores(torch.tensor(safe)).mean()) > float(d.scores(torch.tensor(unsafe)).mean())


def test_token_states_with_masks_pool_before_the_difference() -> None:
    rng = np.random.default_rng(1)
    n, t, dim = 12, 7, 10
    safe, unsafe = rng.normal(size=(n, t, dim)), rng.normal(size=(n, t, dim)) - 0.3
    lengths_s, lengths_u = rng.integers(1, t + 1, n), rng.integers(1, t + 1, n)
    mask_s = np.arange(t)[None, :] < lengths_s[:, None]
    mask_u = np.arange(t)[None, :] < lengths_u[:, None]
    for pooling, k in (("mean", 5), ("last_k", 3)):
        d = sc.estimate_direction(safe, unsafe, mask_s, mask_u, pooling=pooling, k=k)

        def pooled(x: np.ndarray, lengths: np.ndarray) -> np.ndarray:
            rows = []
            for i, length in enumerate(lengths):
                real = x[i, :length]
                rows.append(real.mean(0) if pooling == "mean" else real[-k:].mean(0))
            return np.stack(rows)

        raw = pooled(safe, lengths_s).mean(0) - pooled(unsafe, lengths_u).mean(0)
        np.testing.assert_allclose(d.vectors[0].numpy(), _np_unit(raw), rtol=1e-5, atol=1e-6)
        assert d.pooling == pooling


def test_categories_and_global_direction() -> None:
    rng = np.random.default_rng(2)
    data = {c: (rng.normal(size=(8, 6)) + i, rng.normal(size=(8, 6))) for i, c in enumerate(["sexual", "violence", "hate"])}
    d = sc.estimate_category_directions(data, pooling="pooled", include_global=True)
    assert d.categories == ("global", "sexual", "violence", "hate")
    all_safe = np.concatenate([v[0] for v in data.values()])
    all_unsafe = np.concatenate([v[1] for v in data.values()])
    np.testing.assert_allclose(d.vectors[0].numpy(), _np_unit(all_safe.mean(0) - all_unsafe.mean(0)), rtol=1e-5, atol=1e-6)
    for c, (s, u) in data.items():
        np.testing.assert_allclose(d.vectors[d.index(c)].numpy(), _np_unit(s.mean(0) - u.mean(0)), rtol=1e-5, atol=1e-6)
    assert d.info["categories"]["hate"]["n_safe"] == 8
    picked = d.select(["hate", "sexual"])
    assert picked.categories == ("hate", "sexual")
    assert torch.equal(picked.vectors[0], d.vectors[3])


def test_lowdin_orthogonalisation_matches_numpy_and_is_order_free() -> None:
    rng = np.random.default_rng(3)
    base = rng.normal(size=16)
    vecs = np.stack([base + rng.normal(size=16) for _ in range(3)])
    d = sc.SafetyDirection.from_vectors(torch.tensor(vecs), ["a", "b", "c"])
    o = sc.orthogonalize_categories(d, "lowdin")
    unit = vecs / np.linalg.norm(vecs, axis=1, keepdims=True)
    evals, evecs = np.linalg.eigh(unit @ unit.T)
    expected = evecs @ np.diag(evals ** -0.5) @ evecs.T @ unit
    np.testing.assert_allclose(o.vectors.numpy(), expected, atol=1e-5)
    np.testing.assert_allclose((o.vectors @ o.vectors.T).numpy(), np.eye(3), atol=1e-5)
    # scale = raw difference projected on the new axis
    np.testing.assert_allclose(o.scale.numpy(), np.einsum("kd,kd->k", vecs, expected), rtol=1e-4)
    permuted = sc.orthogonalize_categories(d.select(["c", "a", "b"]), "lowdin")
    np.testing.assert_allclose(permuted.vectors[1].numpy(), o.vectors[0].numpy(), atol=1e-5)


def test_gram_schmidt_keeps_first_and_global_untouched() -> None:
    rng = np.random.default_rng(4)
    vecs = rng.normal(size=(4, 9))
    d = sc.SafetyDirection.from_vectors(torch.tensor(vecs), ["global", "x", "y", "z"])
    o = sc.orthogonalize_categories(d, "gram_schmidt")
    assert torch.equal(o.vectors[0], d.vectors[0])
    np.testing.assert_allclose(o.vectors[1].numpy(), d.vectors[1].numpy(), atol=1e-6)
    np.testing.assert_allclose((o.vectors[1:] @ o.vectors[1:].T).numpy(), np.eye(3), atol=1e-5)


def test_parallel_categories_cannot_be_orthogonalised() -> None:
    v = torch.randn(8)
    d = sc.SafetyDirection.from_vectors(torch.stack([v, v * 2, torch.randn(8)]), ["a", "b", "c"])
    with pytest.raises(sc.SafeSteerError, match="nearly parallel"):
        sc.orthogonalize_categories(d)


def test_calibrate_gates_uses_benign_quantile_midpoint_and_mean() -> None:
    rng = np.random.default_rng(5)
    d = sc.SafetyDirection.from_vectors(torch.tensor(rng.normal(size=(2, 12))), ["a", "b"])
    benign = rng.normal(size=(40, 12))
    cal = sc.calibrate_gates(d, benign, false_positive_rate=0.1)
    scores = benign @ d.vectors.double().numpy().T
    for k in range(2):
        ordered = np.sort(scores[:, k])  # index floor(0.1 * 40) = 4, midpoint with the score below
        assert cal.thresholds[k].item() == pytest.approx((ordered[3] + ordered[4]) / 2, rel=1e-5)
        assert cal.centres[k].item() == pytest.approx(scores[:, k].mean(), rel=1e-5, abs=1e-6)
        assert (scores[:, k] < cal.thresholds[k].item() - 1e-6).mean() <= 0.1


def test_bad_inputs_raise_clear_errors() -> None:
    good = np.ones((4, 8))
    bad = good.copy()
    bad[1, 2] = np.nan
    with pytest.raises(sc.NonFiniteError, match="NaN"):
        sc.estimate_direction(bad, good * 0)
    with pytest.raises(sc.DimensionMismatchError):
        sc.estimate_direction(np.ones((4, 8)), np.zeros((4, 6)))
    with pytest.raises(sc.SafeSteerError, match="identical"):
        sc.estimate_direction(good, good)
    d = sc.estimate_direction(good, good * 0)
    with pytest.raises(sc.DimensionMismatchError, match="hidden size 8.*hidden size 3072"):
        d.check_dim(3072, "the FLUX text stream")
    with pytest.raises(sc.SafeSteerError, match="unit rows"):
        sc.SafetyDirection(vectors=torch.ones(1, 4), categories=("a",), scale=torch.ones(1))


def test_direction_auroc_counts_safe_as_positive() -> None:
    d = sc.SafetyDirection.from_vectors(torch.tensor([1.0, 0.0]))
    safe = torch.tensor([[2.0, 5.0], [1.0, 0.0], [0.5, 1.0]])
    unsafe = torch.tensor([[0.0, 0.0], [0.75, 3.0]])
    # projections: safe 2, 1, 0.5; unsafe 0, 0.75 -> wins 2 + 2 + 1 = 5 of 6
    assert sc.direction_auroc(d, safe, unsafe) == pytest.approx(5 / 6)
