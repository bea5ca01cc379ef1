"""The attention-sink / massive-activation exclusion rule of steering_core.directions.pooling, on synthetic states.

References: a hand-computed case, and a per-row numpy loop that applies the documented rule
(drop the first real token when there are two or more; drop real tokens whose norm is above 10x
the lower median norm of the real tokens after the first).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import steering_core as sc
from steering_core.errors import SafeSteerError
from steering_core.directions.pooling import (OUTLIER_FACTOR, default_pooling, massive_token_share, outlier_token_mask, pool,
                                   resolve_pooling)

pytestmark = pytest.mark.host_independent


def test_hand_computed_case() -> None:
    # Prompt 0: sink (100, 0), then norms 1, 2, 3, 50. Lower median of [1, 2, 3, 50] is 2, so 50 > 20 goes.
    # Prompt 1: one real token (the rest padding): it is kept although it is the first.
    hidden = torch.tensor([
        [[100.0, 0.0], [1.0, 0.0], [0.0, 2.0], [3.0, 0.0], [50.0, 0.0]],
        [[7.0, 7.0], [9e9, 9e9], [9e9, 9e9], [9e9, 9e9], [9e9, 9e9]],
    ], dtype=torch.float64)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 0, 0, 0, 0]], dtype=torch.bool)
    keep = outlier_token_mask(hidden, mask)
    assert keep.tolist() == [[False, True, True, True, False], [True, False, False, False, False]]
    robust = pool(hidden, mask, "robust_mean")
    assert torch.allclose(robust, torch.tensor([[4 / 3, 2 / 3], [7.0, 7.0]], dtype=torch.float64))
    plain = pool(hidden, mask, "mean")
    assert torch.allclose(plain[0], torch.tensor([154 / 5, 2 / 5], dtype=torch.float64))
    # robust_last_k with k=2: the last two kept tokens of prompt 0 are (0, 2) and (3, 0).
    assert torch.allclose(pool(hidden, mask, "robust_last_k", k=2)[0], torch.tensor([1.5, 1.0], dtype=torch.float64))
    # Share of |plain sum|^2 carried by the dropped tokens: dropped sum (150, 0), kept sum (4, 2).
    share = massive_token_share(hidden, mask)
    assert share[0].item() == pytest.approx(150**2 / (150**2 + 4**2 + 2**2), rel=1e-6)
    assert share[1].item() == 0.0


def _ref_keep(h: np.ndarray, m: np.ndarray, factor: float) -> np.ndarray:
    keep = np.zeros_like(m)
    for i in range(h.shape[0]):
        real = [t for t in range(h.shape[1]) if m[i, t]]
        rest = real[1:] if len(real) > 1 else real
        norms = {t: float(np.linalg.norm(h[i, t])) for t in rest}
        ordered = sorted(norms.values())
        median = ordered[(len(ordered) - 1) // 2]
        for t in rest:
            keep[i, t] = norms[t] <= factor * median
    return keep


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("left_padding", [False, True])
def test_rule_matches_numpy_loop(seed: int, left_padding: bool) -> None:
    rng = np.random.default_rng(seed)
    n, t, d = 9, 13, 6
    h = rng.normal(size=(n, t, d))
    lengths = rng.integers(1, t + 1, size=n)
    lengths[:3] = [1, 2, t]
    m = np.zeros((n, t), dtype=bool)
    for i, length in enumerate(lengths):
        if left_padding:
            m[i, t - length:] = True
        else:
            m[i, :length] = True
    # Plant sinks on the first real token and massive activations (one channel) at random later spots,
    # and borderline tokens at 9x and 11x the row's typical norm.
    for i in range(n):
        real = np.nonzero(m[i])[0]
        h[i, real[0], 0] += 3000.0
        for pos in rng.choice(real, size=max(0, len(real) // 5), replace=False):
            h[i, pos, rng.integers(d)] += rng.choice([30.0, 3000.0])
    h[~m] = 1e6
    hidden, mask = torch.from_numpy(h), torch.from_numpy(m)
    ref = _ref_keep(h, m, OUTLIER_FACTOR)
    keep = outlier_token_mask(hidden, mask)
    assert keep.numpy().tolist() == ref.tolist()
    assert keep.any(1).all()
    expected = np.stack([h[i, ref[i]].mean(0) for i in range(n)])
    np.testing.assert_allclose(pool(hidden, mask, "robust_mean").numpy(), expected, rtol=1e-12)
    expected_last = np.stack([h[i, np.nonzero(ref[i])[0][-3:]].mean(0) for i in range(n)])
    np.testing.assert_allclose(pool(hidden, mask, "robust_last_k", k=3).numpy(), expected_last, rtol=1e-12)


def test_plain_mean_is_sink_dominated_and_robust_is_not() -> None:
    # Two prompts that differ only in their content tokens; both carry the same huge sink.
    rng = np.random.default_rng(5)
    content_a, content_b = rng.normal(size=(6, 8)), rng.normal(size=(6, 8)) + 1.0
    sink = np.zeros(8)
    sink[3] = 5000.0
    h = torch.from_numpy(np.stack([np.vstack([sink, content_a]), np.vstack([sink, content_b])]))
    plain, robust = pool(h, None, "mean"), pool(h, None, "robust_mean")
    cos = torch.nn.functional.cosine_similarity
    assert cos(plain[0], plain[1], dim=0) > 0.999        # the sink makes every prompt the same vector
    assert cos(robust[0], robust[1], dim=0) < 0.9
    np.testing.assert_allclose(robust.numpy(), np.stack([content_a.mean(0), content_b.mean(0)]), rtol=1e-12)


def test_bert_like_states_are_untouched_except_the_first_token() -> None:
    # Norms within a factor 3 of each other: no massive activation is flagged; only the first token goes.
    rng = np.random.default_rng(1)
    h = torch.from_numpy(rng.normal(size=(4, 7, 16)) * rng.uniform(1, 3, size=(4, 7, 1)))
    keep = outlier_token_mask(h)
    assert not keep[:, 0].any() and keep[:, 1:].all()


def test_auto_resolves_by_encoder_kind() -> None:
    assert default_pooling("encoder") == "mean"
    assert default_pooling("decoder") == "robust_mean"
    assert resolve_pooling("auto", "decoder") == "robust_mean"
    assert resolve_pooling("auto", None) == "mean"
    assert resolve_pooling("last_k", "decoder") == "last_k"
    with pytest.raises(SafeSteerError, match="resolve"):
        pool(torch.zeros(1, 2, 3), None, "auto")
    with pytest.raises(SafeSteerError, match="encoder kind"):
        default_pooling("seq2seq")


def test_direction_gates_pool_like_its_prompts() -> None:
    # A direction estimated with robust_mean records it, survives a file round trip, and the sequence
    # gate scores the same robust pooled vector (a sink along the direction cannot open or shut it).
    rng = np.random.default_rng(2)
    d = 8
    safe = torch.from_numpy(rng.normal(size=(20, 5, d)))
    unsafe = torch.from_numpy(rng.normal(size=(20, 5, d)))
    safe[:, 1:, 0] += 2.0
    safe[:, 0, 0] -= 4000.0   # sinks pointing the "unsafe" way on the safe prompts
    unsafe[:, 0, 0] += 4000.0
    direction = sc.estimate_direction(safe, unsafe, pooling="robust_mean")
    assert direction.pooling == "robust_mean"
    assert direction.vectors[0, 0] > 0.9   # found from the content tokens, not flipped by the sinks
    assert direction.prompt_pooling == ("robust_mean", 5)
    plain = sc.estimate_direction(safe, unsafe, pooling="mean")
    assert plain.vectors[0, 0] < -0.9      # the plain mean follows the sinks


class _SinkEncoder:
    """A stand-in TextEncoder whose states carry a huge first-token sink (a decoder LLM's pattern)."""

    name, layer, fingerprint, hidden_size, kind = "sinky", "l", "", 4, "decoder"

    def encode(self, prompts):
        from steering_core.encoders import EncodedPrompts

        g = torch.Generator().manual_seed(len(prompts))
        hidden = torch.randn(len(prompts), 6, 4, generator=g)
        hidden[:, 0, 2] = 3000.0
        return EncodedPrompts(hidden=hidden, mask=torch.ones(len(prompts), 6, dtype=torch.bool))


def test_encode_pooled_warns_when_a_plain_mean_is_sink_dominated() -> None:
    import warnings

    from steering_core.encoders import encode_pooled
    from steering_core.directions.pooling import SinkDominatedWarning

    enc = _SinkEncoder()
    with pytest.warns(SinkDominatedWarning, match="robust_mean"):
        plain = encode_pooled(enc, ["a", "b", "c"], pooling="mean")
    assert torch.allclose(plain[:, 2], torch.full((3,), 500.0), atol=2.0)   # (3000 + 5 small values) / 6
    with warnings.catch_warnings():
        warnings.simplefilter("error", SinkDominatedWarning)
        robust = encode_pooled(enc, ["a", "b", "c"])                         # auto -> robust_mean for a decoder
    assert robust.abs().max() < 10.0
