"""Steering ops against numpy references: add, gated, project-out, ablate, multi-category, masks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import steering_core as sc
import steering_core.steering.ops as steering_module

pytestmark = pytest.mark.host_independent


def _direction(k: int = 1, d: int = 16, seed: int = 0, orthonormal: bool = False) -> sc.SafetyDirection:
    g = torch.Generator().manual_seed(seed)
    raw = torch.randn(k, d, generator=g, dtype=torch.float64)
    if orthonormal:
        raw = torch.linalg.qr(raw.T)[0].T * torch.linspace(1.0, 2.0, k, dtype=torch.float64)[:, None]
    names = [f"c{i}" for i in range(k)]
    return sc.SafetyDirection.from_vectors(raw, names)


def _np_steer(h: np.ndarray, v: np.ndarray, a: np.ndarray, c: np.ndarray, mode: str,
              thr: np.ndarray | None = None, centre: np.ndarray | None = None) -> np.ndarray:
    """Reference: per token, per category, projections measured on the input."""
    out = h.astype(np.float64).copy()
    flat_in = h.reshape(-1, h.shape[-1]).astype(np.float64)
    flat_out = out.reshape(-1, h.shape[-1])
    for i, row in enumerate(flat_in):
        for k in range(v.shape[0]):
            s = row @ v[k]
            if mode == "add":
                coef = a[k] * c[k]
            elif mode == "gated":
                coef = a[k] * c[k] if s < thr[k] else 0.0
            elif mode == "project_out":
                coef = a[k] * max(0.0, centre[k] - s)
            else:
                coef = a[k] * (centre[k] - s)
            flat_out[i] += coef * v[k]
    return out


@pytest.mark.parametrize("mode", ["add", "gated", "project_out", "ablate"])
def test_multi_category_matches_reference(mode: str) -> None:
    d = _direction(k=3, d=12, seed=1)
    h = torch.randn(2, 5, 12, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    a = np.array([1.5, 0.0, -0.7])
    thr = np.array([0.1, -0.2, 0.3])
    centre = np.array([0.2, 0.0, -0.1])
    out = sc.steer(h, d, strength=a.tolist(), mode=mode, thresholds=thr.tolist(), centres=centre.tolist())
    expected = _np_steer(h.numpy(), d.vectors.double().numpy(), a, d.scale.double().numpy(), mode, thr, centre)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-5, atol=1e-5)


def test_strength_zero_returns_input_bit_identical() -> None:
    d = _direction(k=2)
    h = torch.randn(3, 4, 16)
    for mode in ("add", "gated", "project_out", "ablate"):
        out = sc.steer(h, d, strength=0.0, mode=mode, thresholds=0.0)
        assert out is h
    assert sc.SteeringOp(d, strength=[0.0, 0.0]).is_identity


def test_add_is_linear_in_strength_and_moves_projection_by_scale() -> None:
    d = _direction()
    h = torch.randn(2, 6, 16, dtype=torch.float64)
    one = sc.steer(h, d, 1.0) - h
    three = sc.steer(h, d, 3.0) - h
    torch.testing.assert_close(three, 3 * one)
    shift = (sc.steer(h, d, 2.0) - h) @ d.vectors[0].double()
    torch.testing.assert_close(shift, torch.full((2, 6), 2 * d.scale[0].item(), dtype=torch.float64))


def test_gated_touches_only_tokens_below_threshold_bit_exactly() -> None:
    d = _direction(d=32)
    h = torch.randn(4, 9, 32)
    h[0, 0, 0] = -0.0  # a negative zero must survive untouched tokens exactly
    s = h @ d.vectors[0]
    thr = float(s.median())
    out = sc.steer(h, d, 2.0, "gated", thresholds=thr)
    gate = s < thr
    assert torch.equal(out[~gate], h[~gate])
    assert torch.equal(out[~gate].signbit(), h[~gate].signbit())
    torch.testing.assert_close(out[gate] - h[gate], (2.0 * d.scale[0] * d.vectors[0]).expand(int(gate.sum()), -1))


def test_project_out_lifts_unsafe_side_to_centre_and_leaves_safe_side() -> None:
    d = _direction(d=24)
    h = torch.randn(3, 10, 24, dtype=torch.float64)
    v = d.vectors[0].double()
    v = v / v.norm()  # the op renormalises the stored float32 vector in the working dtype
    out = sc.steer(h, d, 1.0, "project_out", centres=0.25)
    before, after = h @ v, out @ v
    torch.testing.assert_close(after, before.clamp_min(0.25))
    safe_side = before >= 0.25
    assert torch.equal(out[safe_side], h[safe_side])
    orth = lambda x: x - (x @ v)[..., None] * v  # noqa: E731
    torch.testing.assert_close(orth(out), orth(h))


def test_ablate_sets_every_projection_to_centre() -> None:
    d = _direction(k=3, d=20, orthonormal=True)
    h = torch.randn(2, 7, 20, dtype=torch.float64)
    centres = [0.5, -1.0, 0.0]
    out = sc.steer(h, d, 1.0, "ablate", centres=centres)
    # float32-stored vectors are orthonormal to ~1e-7, hence the tolerance
    torch.testing.assert_close(out @ d.vectors.double().T, torch.tensor(centres, dtype=torch.float64).expand(2, 7, 3),
                               atol=1e-6, rtol=0)


def test_orthogonal_categories_batched_equals_sequential() -> None:
    d = _direction(k=3, d=20, seed=4, orthonormal=True)
    h = torch.randn(2, 7, 20, dtype=torch.float64)
    thr = [0.0, 0.3, -0.2]
    batched = sc.steer(h, d, [1.0, 0.5, 2.0], "project_out", centres=thr)
    sequential = h
    for k, (a, t) in enumerate(zip([1.0, 0.5, 2.0], thr)):
        sequential = sc.steer(sequential, d.select([d.categories[k]]), a, "project_out", centres=t)
    # vectors are stored in float32, so they are orthogonal to ~1e-7
    torch.testing.assert_close(batched, sequential, atol=1e-6, rtol=1e-6)


def test_token_mask_limits_changes() -> None:
    d = _direction()
    h = torch.randn(2, 5, 16)
    mask = torch.tensor([[1, 1, 0, 0, 0], [0, 1, 1, 1, 0]], dtype=torch.bool)
    for mode in ("add", "ablate"):
        out = sc.steer(h, d, 1.0, mode, token_mask=mask)
        assert torch.equal(out[~mask], h[~mask])
        assert not torch.equal(out[mask], h[mask])


def test_sequence_gate_steers_whole_prompts() -> None:
    d = _direction(d=8)
    v = d.vectors[0]
    h = torch.randn(3, 6, 8) * 0.1
    h[0] -= 2 * v  # unsafe prompt
    h[2] += 2 * v  # safe prompt
    mask = torch.ones(3, 6, dtype=torch.bool)
    mask[1, 4:] = False
    out = sc.steer(h, d, 1.0, "gated", thresholds=-1.0, token_mask=mask, gate_scope="sequence")
    torch.testing.assert_close(out[0] - h[0], (d.scale[0] * v).expand(6, -1))
    assert torch.equal(out[1], h[1]) and torch.equal(out[2], h[2])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_dtype_and_shape_preserved(dtype: torch.dtype) -> None:
    d = _direction(k=2, d=64)
    h = torch.randn(2, 33, 64).to(dtype)
    for mode in ("add", "gated", "project_out"):
        out = sc.steer(h, d, [1.0, 2.0], mode, thresholds=0.0)
        assert out.dtype == dtype and out.shape == h.shape and out.device == h.device
        ref = sc.steer(h.double(), d, [1.0, 2.0], mode, thresholds=0.0)
        tol = {torch.float32: 1e-5, torch.float16: 2e-2, torch.bfloat16: 1e-1}[dtype]
        # half precision may flip a gate for tokens sitting on the threshold; compare the rest
        stable = ((h.double() @ d.vectors.double().T).abs() > 0.05).all(-1)
        torch.testing.assert_close(out.double()[stable], ref[stable], atol=tol, rtol=tol)


def test_chunked_path_matches_single_chunk(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunk boundaries change nothing: the same result to rounding (each chunk's projections are its own
    matmul, whose summation order the BLAS picks by row count), untouched rows bit-identical in both."""
    d = _direction(k=2, d=16)
    h = torch.randn(4, 50, 16)
    h[0, 0, 0] = -0.0
    # midpoints between two scores: a threshold equal to a token's own score would let a 1-ulp rounding
    # difference flip that token's gate
    centres = torch.quantile((h @ d.vectors.T).reshape(-1, 2), 0.5, dim=0, interpolation="midpoint").tolist()
    for mode in ("ablate", "project_out", "gated"):
        whole = sc.steer(h, d, [1.0, -0.5], mode, centres=centres, thresholds=centres)
        with monkeypatch.context() as patch:
            patch.setattr(steering_module, "_CHUNK_BYTES", 16 * 4 * 7)  # 7 rows a chunk
            chunked = sc.steer(h, d, [1.0, -0.5], mode, centres=centres, thresholds=centres)
        torch.testing.assert_close(chunked, whole, atol=1e-6, rtol=1e-6)
        untouched = (whole == h).all(-1) & (chunked == h).all(-1)
        assert untouched.any() or mode == "ablate"
        assert torch.equal(chunked[untouched].signbit(), h[untouched].signbit())


def test_steering_errors_are_clear() -> None:
    d = _direction(k=2, d=16)
    with pytest.raises(sc.DimensionMismatchError, match="hidden size 16.*hidden size 3072"):
        sc.steer(torch.randn(1, 4, 3072), d, 1.0)
    with pytest.raises(sc.SafeSteerError, match="calibrate_gates"):
        sc.steer(torch.randn(1, 4, 16), d, 1.0, "gated")
    with pytest.raises(sc.SafeSteerError, match="one per category"):
        sc.steer(torch.randn(1, 4, 16), d, [1.0, 2.0, 3.0])
    with pytest.raises(sc.SafeSteerError, match="unknown steering mode"):
        sc.steer(torch.randn(1, 4, 16), d, 1.0, "clampish")
    with pytest.raises(sc.SafeSteerError, match="token_mask"):
        sc.steer(torch.randn(1, 4, 16), d, 1.0, token_mask=torch.ones(1, 5, dtype=torch.bool))


def test_calibrated_direction_gates_with_its_own_thresholds() -> None:
    rng = np.random.default_rng(3)
    benign = rng.normal(size=(200, 16))
    d = sc.calibrate_gates(_direction(), benign, false_positive_rate=0.05)
    benign_t = torch.tensor(benign, dtype=torch.float32)[None]
    out = sc.steer(benign_t, d, 1.0, "gated")
    n_changed = int((out != benign_t).any(-1).sum())
    assert 0 < n_changed <= 10  # at most 5 % of 200 benign prompts open the gate


def test_gated_mode_uses_read_outs_when_present() -> None:
    base = _direction(k=2, d=10, seed=7)
    g = torch.Generator().manual_seed(8)
    readout, offsets = torch.randn(2, 10, generator=g), torch.tensor([0.3, -0.2])
    d = sc.SafetyDirection(vectors=base.vectors, categories=base.categories, scale=base.scale,
                           gate_vectors=readout, gate_offsets=offsets, thresholds=torch.tensor([0.1, 0.0]))
    h = torch.randn(3, 6, 10, generator=g, dtype=torch.float64)
    out = sc.steer(h, d, [1.0, 2.0], "gated")
    gate = (h @ readout.double().T + offsets.double()) < torch.tensor([0.1, 0.0], dtype=torch.float64)
    coef = gate.double() * torch.tensor([1.0, 2.0], dtype=torch.float64) * d.scale.double()
    torch.testing.assert_close(out, h + coef @ d.vectors.double(), atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(d.gate_scores(h.float()), (h @ readout.double().T + offsets.double()).float())


def test_sequence_gate_pools_like_the_direction() -> None:
    """A last-k direction gates a prompt on the mean of its last k real tokens, not on all of them."""
    v = torch.zeros(4, dtype=torch.float64)
    v[0] = 1.0
    d = sc.SafetyDirection.from_vectors(v, pooling="last_k", info={"pooling_k": 2})
    h = torch.zeros(1, 5, 4, dtype=torch.float64)
    h[0, :3, 0] = 5.0   # early tokens look safe
    h[0, 3:, 0] = -1.0  # the last two real tokens look unsafe: last-2 mean -1, full mean 2.6
    out = sc.steer(h, d, 1.0, "gated", thresholds=0.0, gate_scope="sequence")
    torch.testing.assert_close(out - h, v.expand(1, 5, 4))
