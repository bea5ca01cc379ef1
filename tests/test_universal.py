"""Universal direction by SVD: recovery of a shared axis, sign rule, per-category use."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import steering_core as sc

pytestmark = pytest.mark.host_independent


def test_recovers_shared_axis_from_four_noisy_directions() -> None:
    rng = np.random.default_rng(0)
    axis = rng.normal(size=64)
    axis /= np.linalg.norm(axis)
    noisy = [axis + 0.06 * rng.normal(size=64) for _ in range(4)]
    u = sc.universal_direction([torch.tensor(v) for v in noisy])
    cos_universal = float(u.vectors[0].double() @ torch.tensor(axis))
    assert cos_universal > 0.95
    individual = [abs(float(np.dot(v / np.linalg.norm(v), axis))) for v in noisy]
    assert cos_universal > max(individual)
    # against numpy's SVD of the stacked unit vectors
    m = np.stack([v / np.linalg.norm(v) for v in noisy])
    top = np.linalg.svd(m)[2][0]
    assert abs(float(u.vectors[0].double() @ torch.tensor(top))) == pytest.approx(1.0, abs=1e-5)
    assert u.info["universal"]["global"]["explained_variance"] > 0.8


def test_sign_follows_the_majority() -> None:
    rng = np.random.default_rng(1)
    axis = np.eye(16)[0]
    vs = [axis + 0.05 * rng.normal(size=16) for _ in range(3)] + [-axis + 0.05 * rng.normal(size=16)]
    u = sc.universal_direction([torch.tensor(v) for v in vs])
    assert float(u.vectors[0, 0]) > 0.99
    assert u.info["universal"]["global"]["n_agree"] == 3
    flipped = sc.universal_direction([torch.tensor(-v) for v in vs])
    assert float(flipped.vectors[0, 0]) < -0.99


def test_per_category_universal_and_errors() -> None:
    rng = np.random.default_rng(2)
    base = rng.normal(size=(2, 10))
    dirs = [sc.SafetyDirection.from_vectors(torch.tensor(base + 0.05 * rng.normal(size=(2, 10))), ["sexual", "hate"])
            for _ in range(3)]
    u = sc.universal_direction(dirs)
    assert u.categories == ("sexual", "hate")
    for k in range(2):
        assert float(u.vectors[k].double() @ torch.tensor(base[k] / np.linalg.norm(base[k]))) > 0.99
    with pytest.raises(sc.SafeSteerError, match="at least 2"):
        sc.universal_direction(dirs[:1])
    with pytest.raises(sc.DimensionMismatchError, match="Alignment"):
        sc.universal_direction([torch.randn(10), torch.randn(12)])
