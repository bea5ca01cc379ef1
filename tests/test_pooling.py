"""Tests for steering_core.directions.pooling: masked mean, last-k mean and the pool dispatcher.

References are per-row Python loops over the real-token positions of each prompt.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from steering_core.errors import SafeSteerError
from steering_core.directions.pooling import last_k_mean, masked_mean, pool

pytestmark = pytest.mark.host_independent

N, T, D = 7, 11, 5


def _random_case(seed: int, padding: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Random float64 states ``[N, T, D]`` and a bool mask with right, left or scattered padding.

    Padded positions hold huge values, so any leak of padding into a pooled vector is visible.
    Lengths include 1 (a single real token) and T (no padding).
    """
    rng = np.random.default_rng(seed)
    hidden = rng.normal(size=(N, T, D))
    lengths = rng.integers(1, T + 1, size=N)
    lengths[0], lengths[1] = 1, T
    mask = np.zeros((N, T), dtype=bool)
    for i, length in enumerate(lengths):
        if padding == "right":
            mask[i, :length] = True
        elif padding == "left":
            mask[i, T - length:] = True
        else:  # scattered real tokens, still at least one per row
            mask[i, rng.choice(T, size=length, replace=False)] = True
    hidden[~mask] = 1e6
    return torch.from_numpy(hidden), torch.from_numpy(mask)


def _ref_mean(hidden: torch.Tensor, mask: torch.Tensor) -> np.ndarray:
    h, m = hidden.numpy(), mask.numpy().astype(bool)
    return np.stack([h[i, np.nonzero(m[i])[0]].mean(axis=0) for i in range(h.shape[0])])


def _ref_last_k(hidden: torch.Tensor, mask: torch.Tensor, k: int) -> np.ndarray:
    h, m = hidden.numpy(), mask.numpy().astype(bool)
    rows = []
    for i in range(h.shape[0]):
        real = [t for t in range(h.shape[1]) if m[i, t]]
        chosen = real[-k:]  # all of them when the prompt is shorter than k
        rows.append(np.mean([h[i, t] for t in chosen], axis=0))
    return np.stack(rows)


PADDINGS = ["right", "left", "scattered"]


@pytest.mark.parametrize("padding", PADDINGS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_masked_mean_matches_per_row_loop(padding: str, seed: int) -> None:
    """masked_mean averages exactly the real tokens of each row, whichever side the padding sits."""
    hidden, mask = _random_case(seed, padding)
    out = masked_mean(hidden, mask)
    assert out.shape == (N, D)
    np.testing.assert_allclose(out.numpy(), _ref_mean(hidden, mask), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("padding", PADDINGS)
@pytest.mark.parametrize("k", [1, 3, 5, T, T + 4])
def test_last_k_mean_matches_per_row_loop(padding: str, k: int) -> None:
    """last_k_mean averages the last k *real* tokens (all real tokens when a prompt is shorter than k)."""
    hidden, mask = _random_case(10 + k, padding)
    out = last_k_mean(hidden, mask, k=k)
    assert out.shape == (N, D)
    np.testing.assert_allclose(out.numpy(), _ref_last_k(hidden, mask, k), rtol=1e-12, atol=1e-12)


def test_last_k_larger_than_prompt_uses_all_real_tokens() -> None:
    """With k above every prompt's length, last-k pooling equals the masked mean."""
    hidden, mask = _random_case(5, "left")
    np.testing.assert_allclose(last_k_mean(hidden, mask, k=100).numpy(), _ref_mean(hidden, mask), rtol=1e-12, atol=1e-12)


def test_hand_computed_last_k_left_and_right_padding() -> None:
    """A 1-D hidden size example worked by hand: tokens 1..4 real, k=2 -> mean(3, 4) = 3.5 on both sides."""
    right = torch.tensor([[[1.0], [2.0], [3.0], [4.0], [99.0]]])
    left = torch.tensor([[[99.0], [1.0], [2.0], [3.0], [4.0]]])
    assert last_k_mean(right, torch.tensor([[1, 1, 1, 1, 0]]), k=2).item() == 3.5
    assert last_k_mean(left, torch.tensor([[0, 1, 1, 1, 1]]), k=2).item() == 3.5
    assert masked_mean(right, torch.tensor([[1, 1, 1, 1, 0]])).item() == 2.5
    assert masked_mean(left, torch.tensor([[0, 1, 1, 1, 1]])).item() == 2.5


@pytest.mark.parametrize("dtype", [torch.int64, torch.int32, torch.float32, torch.uint8])
def test_non_bool_masks_behave_like_bool(dtype: torch.dtype) -> None:
    """Integer / float 0-1 masks select the same tokens as a bool mask."""
    hidden, mask = _random_case(3, "right")
    m = mask.to(dtype)
    np.testing.assert_allclose(masked_mean(hidden, m).numpy(), _ref_mean(hidden, mask), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(last_k_mean(hidden, m, k=3).numpy(), _ref_last_k(hidden, mask, 3), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("k", [1, 4, T, T + 3])
def test_no_mask_uses_every_token(k: int) -> None:
    """Without a mask all T tokens are real: mean over T, and last-k over the final min(k, T) tokens."""
    rng = np.random.default_rng(42)
    h = rng.normal(size=(N, T, D))
    hidden = torch.from_numpy(h)
    ref_mean = np.stack([sum(h[i, t] for t in range(T)) / T for i in range(N)])
    ref_last = np.stack([np.mean([h[i, t] for t in range(max(0, T - k), T)], axis=0) for i in range(N)])
    np.testing.assert_allclose(masked_mean(hidden).numpy(), ref_mean, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(last_k_mean(hidden, None, k=k).numpy(), ref_last, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(pool(hidden, None, "mean").numpy(), ref_mean, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(pool(hidden, None, "last_k", k=k).numpy(), ref_last, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("padding", PADDINGS)
def test_pool_dispatches_to_mean_and_last_k(padding: str) -> None:
    """pool(..., 'mean') and pool(..., 'last_k', k) agree with the per-row references."""
    hidden, mask = _random_case(7, padding)
    np.testing.assert_allclose(pool(hidden, mask, "mean").numpy(), _ref_mean(hidden, mask), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(pool(hidden, mask, "last_k", k=2).numpy(), _ref_last_k(hidden, mask, 2), rtol=1e-12, atol=1e-12)
    # default k is 5
    np.testing.assert_allclose(pool(hidden, mask, "last_k").numpy(), _ref_last_k(hidden, mask, 5), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("pooling", ["pooled", "mean", "last_k"])
def test_pool_passes_2d_vectors_through(pooling: str) -> None:
    """Already-pooled ``[N, D]`` vectors come back unchanged."""
    vecs = torch.randn(N, D, generator=torch.Generator().manual_seed(0))
    out = pool(vecs, None, pooling)
    assert torch.equal(out, vecs)


def test_pool_pooled_with_mask_passes_through() -> None:
    """pooling='pooled' ignores a mask on ``[N, D]`` input."""
    vecs = torch.randn(N, D, generator=torch.Generator().manual_seed(1))
    assert torch.equal(pool(vecs, torch.ones(N, T, dtype=torch.bool), "pooled"), vecs)


def test_pool_2d_with_mask_and_token_pooling_raises() -> None:
    """A token mask together with pooled vectors and a token pooling is an error."""
    vecs = torch.randn(N, D)
    with pytest.raises(SafeSteerError, match="mask"):
        pool(vecs, torch.ones(N, T, dtype=torch.bool), "mean")


# ---------------------------------------------------------------------- errors
@pytest.mark.parametrize("fn", [masked_mean, lambda h, m: last_k_mean(h, m, k=3),
                                lambda h, m: pool(h, m, "mean"), lambda h, m: pool(h, m, "last_k", 2)])
def test_row_without_real_token_raises(fn) -> None:
    """A prompt whose mask is all zeros raises SafeSteerError naming the row."""
    hidden, mask = _random_case(0, "right")
    mask = mask.clone()
    mask[4] = False
    with pytest.raises(SafeSteerError, match=r"no real token.*\[4\]"):
        fn(hidden, mask)


@pytest.mark.parametrize("bad_shape", [(N, T + 1), (N - 1, T), (N,), (N, T, 1)])
@pytest.mark.parametrize("which", ["mean", "last_k"])
def test_mask_of_wrong_shape_raises(bad_shape: tuple[int, ...], which: str) -> None:
    """A mask whose shape is not ``[N, T]`` raises SafeSteerError."""
    hidden = torch.randn(N, T, D)
    mask = torch.ones(bad_shape, dtype=torch.bool)
    with pytest.raises(SafeSteerError, match="mask"):
        if which == "mean":
            masked_mean(hidden, mask)
        else:
            last_k_mean(hidden, mask, k=2)
    with pytest.raises(SafeSteerError):
        pool(hidden, mask, which)


@pytest.mark.parametrize("pooling", ["max", "MEAN", "", "last-k"])
def test_unknown_pooling_raises(pooling: str) -> None:
    """An unknown pooling name raises SafeSteerError for both token states and pooled vectors."""
    with pytest.raises(SafeSteerError, match="unknown pooling"):
        pool(torch.randn(N, T, D), None, pooling)
    with pytest.raises(SafeSteerError, match="unknown pooling"):
        pool(torch.randn(N, D), None, pooling)


@pytest.mark.parametrize("k", [0, -1, -5])
def test_k_below_one_raises(k: int) -> None:
    """last-k pooling needs k >= 1, with or without a mask."""
    hidden, mask = _random_case(0, "right")
    with pytest.raises(SafeSteerError, match="k >= 1"):
        last_k_mean(hidden, mask, k=k)
    with pytest.raises(SafeSteerError, match="k >= 1"):
        last_k_mean(hidden, None, k=k)
    with pytest.raises(SafeSteerError, match="k >= 1"):
        pool(hidden, mask, "last_k", k=k)


def test_pooled_given_token_states_raises() -> None:
    """pooling='pooled' with ``[N, T, D]`` token states is an error."""
    with pytest.raises(SafeSteerError, match="pooled"):
        pool(torch.randn(N, T, D), None, "pooled")


@pytest.mark.parametrize("shape", [(D,), (2, N, T, D)])
def test_wrong_rank_hidden_raises(shape: tuple[int, ...]) -> None:
    """masked_mean / last_k_mean accept only ``[N, T, D]``."""
    with pytest.raises(SafeSteerError):
        masked_mean(torch.randn(shape))
    with pytest.raises(SafeSteerError):
        last_k_mean(torch.randn(shape), None, k=2)
