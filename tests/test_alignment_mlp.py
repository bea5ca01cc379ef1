"""The MLP map: architecture, fit quality, finite-difference transport against numpy."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import steering_core as sc

pytestmark = pytest.mark.host_independent


def _np_forward(a: sc.Alignment, xc: np.ndarray) -> np.ndarray:
    p = {k: v.double().numpy() for k, v in a.params.items()}
    hidden = np.maximum(0.0, (xc / a.settings["in_scale"]) @ p["map.fc1.weight"].T + p["map.fc1.bias"])
    return (hidden @ p["map.fc2.weight"].T + p["map.fc2.bias"]) * a.settings["out_scale"]


@pytest.fixture(scope="module")
def curved() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 8))
    y = np.concatenate([np.abs(x[:, :3]) * 2, x[:, 3:5] ** 2, np.tanh(x[:, 5:8] * 2)], axis=1)
    return x, y


def test_hidden_width_default_is_geometric_mean(curved: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = curved
    a = sc.fit_alignment(x, y, "mlp", mlp=sc.MLPTrainConfig(epochs=2))
    assert a.params["map.fc1.weight"].shape == (round(math.sqrt(8 * 8)), 8)
    assert a.params["map.fc2.weight"].shape == (8, 8)


def test_mlp_beats_ridge_on_a_curved_map(curved: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = curved
    mlp = sc.fit_alignment(x, y, "mlp", mlp=sc.MLPTrainConfig(hidden=64, epochs=400, lr=3e-3, patience=60))
    ridge = sc.fit_alignment(x, y, "ridge")
    assert mlp.held_out_r2 > ridge.held_out_r2 + 0.3
    assert mlp.held_out_r2 > 0.8


def test_transport_is_mean_finite_difference_over_anchors(curved: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = curved
    a = sc.fit_alignment(x, y, "mlp", mlp=sc.MLPTrainConfig(hidden=32, epochs=30))
    v = np.random.default_rng(1).normal(size=8) * 0.7
    anchors = a.source_anchor_sample.double().numpy() - a.source_mean.double().numpy()
    expected = (_np_forward(a, anchors + v) - _np_forward(a, anchors)).mean(0)
    moved = a.transport(torch.tensor(v), calibrate=False)
    np.testing.assert_allclose(moved.vectors[0].double().numpy(), expected / np.linalg.norm(expected), atol=1e-5)
    assert moved.scale[0].item() == pytest.approx(a.beta * np.linalg.norm(v), rel=1e-5)
    # transform is the same network plus the target mean
    probe = x[:4]
    np.testing.assert_allclose(a.transform(probe).numpy(),
                               _np_forward(a, probe - a.source_mean.double().numpy()) + a.target_mean.double().numpy(),
                               rtol=1e-4, atol=1e-4)


def test_mlp_training_is_deterministic_per_seed(curved: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = curved
    cfg = sc.MLPTrainConfig(hidden=16, epochs=5, seed=3)
    a, b = sc.fit_alignment(x, y, "mlp", mlp=cfg), sc.fit_alignment(x, y, "mlp", mlp=cfg)
    for key in a.params:
        assert torch.equal(a.params[key], b.params[key])
