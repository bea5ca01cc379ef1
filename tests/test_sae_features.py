"""Harmful / safe latent selection against numpy references and a planted dictionary."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from planted_sae import planted_atoms, planted_sae, prompts, tokens

from steering_core.errors import DimensionMismatchError, SafeSteerError
from steering_core.sae.autoencoder import SparseAutoencoder
from steering_core.sae.features import calibrate_fast_thresholds, cohens_d, effect_sizes, select_safety_features


pytestmark = [pytest.mark.usefixtures("one_torch_thread"), pytest.mark.host_independent]


# ------------------------------------------------------------------ numpy references
def _np_codes(sae: SparseAutoencoder, x: np.ndarray) -> np.ndarray:
    """TopK codes written out in numpy (float64) from the SAE's raw weights."""
    w_enc = sae.W_enc.detach().double().numpy()
    bias = (sae.b_dec if sae.tied_input_bias else sae.b_in).detach().double().numpy()
    pre = (x.astype(np.float64) * sae.input_scale - bias) @ w_enc + sae.b_enc.detach().double().numpy()
    codes = np.zeros_like(pre)
    top = np.argsort(-pre, axis=1)[:, :sae.k]
    rows = np.arange(pre.shape[0])[:, None]
    codes[rows, top] = np.maximum(pre[rows, top], 0.0)
    return codes


def _np_cohens_d(unsafe: np.ndarray, safe: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    nu, ns = len(unsafe), len(safe)
    pooled = ((nu - 1) * unsafe.var(0, ddof=1) + (ns - 1) * safe.var(0, ddof=1)) / (nu + ns - 2)
    return (unsafe.mean(0) - safe.mean(0)) / np.sqrt(pooled + eps)


def _np_prompt_means(sae: SparseAutoencoder, ps: list[torch.Tensor]) -> np.ndarray:
    return np.stack([_np_codes(sae, p.numpy()).mean(0) for p in ps])


@pytest.fixture(scope="module")
def planted():
    p = planted_atoms()
    sae = planted_sae(p)
    safe, unsafe = prompts(p, 40, "safe", 1), prompts(p, 40, "unsafe", 2)
    return p, sae, safe, unsafe


# ------------------------------------------------------------------ effect sizes
def test_effect_sizes_match_numpy_on_a_random_sae() -> None:
    """Random SAE with an input scale and a non-zero tied input bias; prompts of different lengths."""
    g = torch.Generator().manual_seed(3)
    sae = SparseAutoencoder(24, 64, k=5, input_scale=1.7, seed=4)
    with torch.no_grad():
        sae.b_dec.copy_(0.3 * torch.randn(24, generator=g))
        sae.b_enc.copy_(0.1 * torch.randn(64, generator=g))
    safe = [torch.randn(t, 24, generator=g) for t in (3, 7, 1, 5, 9)]
    unsafe = [torch.randn(t, 24, generator=g) + 0.4 for t in (4, 2, 8, 6)]
    expected = _np_cohens_d(_np_prompt_means(sae, unsafe), _np_prompt_means(sae, safe))
    got = effect_sizes(sae, safe, unsafe).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    direct = cohens_d(torch.from_numpy(_np_prompt_means(sae, unsafe)), torch.from_numpy(_np_prompt_means(sae, safe)))
    np.testing.assert_allclose(direct.numpy(), expected, rtol=1e-10, atol=1e-12)


def test_cohens_d_needs_three_prompts() -> None:
    with pytest.raises(SafeSteerError, match="more prompts"):
        cohens_d(torch.ones(1, 4), torch.zeros(1, 4))


# ------------------------------------------------------------------ selection
def test_selection_recovers_the_planted_latents(planted) -> None:
    p, sae, safe, unsafe = planted
    f = select_safety_features(sae, safe, unsafe, n_harmful=16, n_safe=16, min_effect=1.0, categories=["violence"])
    assert set(f.harmful.tolist()) == set(p.harmful.tolist())
    assert set(f.safe.tolist()) == set(p.safe.tolist())
    d = _np_cohens_d(_np_prompt_means(sae, unsafe), _np_prompt_means(sae, safe))
    # strongest first, every chosen latent >= min_effect, and the effect sizes are the numpy ones
    assert np.all(np.diff(f.harmful_effect.numpy()) <= 0)
    np.testing.assert_allclose(f.harmful_effect.numpy(), d[f.harmful.numpy()], rtol=1e-4)
    assert float(f.harmful_effect.min()) >= 1.0
    assert np.all(np.diff(d[f.safe.numpy()]) >= 0) and np.all(d[f.safe.numpy()] <= -1.0)
    # safe profile: token-pooled mean code, safe minus unsafe, clipped at 0
    safe_tok = _np_codes(sae, torch.cat(safe).numpy())
    unsafe_tok = _np_codes(sae, torch.cat(unsafe).numpy())
    profile = np.maximum(0, safe_tok.mean(0) - unsafe_tok.mean(0))[f.safe.numpy()]
    np.testing.assert_allclose(f.safe_profile.numpy(), profile, rtol=1e-4, atol=1e-6)
    # harm_scale: mean total harmful code over unsafe tokens with any harmful latent active
    zh = unsafe_tok[:, f.harmful.numpy()]
    on = (zh > 0).any(1)
    assert on.sum() > 0
    assert f.harm_scale == pytest.approx(zh[on].sum(1).mean(), rel=1e-5)
    assert f.stats["categories"] == ["violence"]
    assert f.stats["n_prompts"] == {"safe": 40, "unsafe": 40}
    assert f.stats["fast_threshold_rule"] == "calibrated"
    f.check_against(sae)


def test_n_harmful_caps_and_min_effect_filters(planted) -> None:
    _, sae, safe, unsafe = planted
    d = _np_cohens_d(_np_prompt_means(sae, unsafe), _np_prompt_means(sae, safe))
    f = select_safety_features(sae, safe, unsafe, n_harmful=3, n_safe=0, min_effect=1.0)
    assert f.harmful.tolist() == np.argsort(-d)[:3].tolist()
    assert f.safe.numel() == 0 and f.safe_profile.numel() == 0
    # min_effect just above the 4th-largest d keeps exactly the top 3 even with a large cap
    cut = float(np.sort(d)[::-1][3]) + 1e-3
    f2 = select_safety_features(sae, safe, unsafe, n_harmful=50, n_safe=0, min_effect=cut)
    assert f2.harmful.tolist() == f.harmful.tolist()


def test_list_and_stacked_tensor_inputs_agree(planted) -> None:
    _, sae, safe, unsafe = planted
    a = select_safety_features(sae, safe, unsafe, min_effect=1.0)
    b = select_safety_features(sae, torch.stack(safe), torch.stack(unsafe), min_effect=1.0)
    for name, t in a.tensors().items():
        assert torch.equal(t, b.tensors()[name]), name
    assert a.harm_scale == b.harm_scale


def test_no_contrast_raises_with_the_fix() -> None:
    p = planted_atoms()
    sae = planted_sae(p)
    a, b = prompts(p, 10, "benign", 5), prompts(p, 10, "benign", 6)
    with pytest.raises(SafeSteerError, match="lower min_effect"):
        select_safety_features(sae, a, b, min_effect=5.0)


def test_bad_inputs_raise() -> None:
    p = planted_atoms()
    sae = planted_sae(p)
    good = prompts(p, 3, "benign", 5)
    with pytest.raises(DimensionMismatchError, match="SAE's own site"):
        select_safety_features(sae, good, [torch.zeros(4, 7)])
    with pytest.raises(SafeSteerError, match=r"\[N, T, D\]"):
        select_safety_features(sae, torch.zeros(5, 512), good)
    with pytest.raises(SafeSteerError, match="empty"):
        select_safety_features(sae, [], good)


# ------------------------------------------------------------------ fast thresholds
def _brute_force_best(pre: np.ndarray, active: np.ndarray) -> float:
    """Best agreement of (pre > theta) with active over every theta >= 0 that gives a distinct partition."""
    values = np.unique(np.maximum(pre, 0.0))
    cands = np.concatenate([[0.0], values, values + 1e-9, [values.max() + 1.0]])
    return max(float(np.mean((pre > t) == active)) for t in cands if t >= 0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fast_threshold_search_is_exact(seed: int) -> None:
    rng = np.random.default_rng(seed)
    r, h = 300, 4
    pre = rng.normal(0.5, 1.0, size=(r, h)).round(1)  # rounding makes ties
    active = (pre + rng.normal(0, 0.4, size=(r, h)) > 0.9) & (pre > 0)
    active[:, 3] = False  # a latent never active: best is "all off"
    theta, agreement = calibrate_fast_thresholds(torch.from_numpy(pre), torch.from_numpy(active))
    for j in range(h):
        realised = float(np.mean((pre[:, j] > float(theta[j])) == active[:, j]))
        assert float(theta[j]) >= 0
        assert realised == pytest.approx(float(agreement[j]), abs=1e-7)
        assert realised == pytest.approx(_brute_force_best(pre[:, j], active[:, j]), abs=1e-12)
    assert float(agreement[3]) == 1.0


def test_fast_threshold_all_positive_gives_zero() -> None:
    pre = torch.tensor([[0.5], [1.0], [2.0]])
    theta, agreement = calibrate_fast_thresholds(pre, torch.ones(3, 1, dtype=torch.bool))
    assert float(theta[0]) == 0.0 and float(agreement[0]) == 1.0


def test_topk_fast_path_agreement_recorded(planted) -> None:
    p, sae, safe, unsafe = planted
    g = torch.Generator().manual_seed(11)
    calib = torch.cat([tokens(p, 300, "unsafe", g), tokens(p, 300, "benign", g)])
    f = select_safety_features(sae, safe, unsafe, min_effect=1.0, calibration_acts=calib)
    assert f.stats["calibration"] == "given" and f.stats["n_calibration_tokens"] == 600
    # the recorded agreement is the pattern agreement of the fast rule with TopK on those tokens
    pre = _np_codes_pre(sae, calib.numpy())[:, f.harmful.numpy()]
    topk_on = _np_codes(sae, calib.numpy())[:, f.harmful.numpy()] > 0
    fast_on = pre > f.fast_threshold.numpy()
    assert f.stats["fast_agreement"] == pytest.approx(float(np.mean((fast_on == topk_on).all(1))), abs=1e-6)
    assert f.stats["fast_agreement"] >= 0.97


def _np_codes_pre(sae: SparseAutoencoder, x: np.ndarray) -> np.ndarray:
    w_enc = sae.W_enc.detach().double().numpy()
    return (x.astype(np.float64) * sae.input_scale - sae.b_dec.detach().double().numpy()) @ w_enc \
        + sae.b_enc.detach().double().numpy()


@pytest.mark.parametrize("activation", ["relu", "jumprelu"])
def test_relu_and_jumprelu_thresholds_are_exact(planted, activation: str) -> None:
    p, _, safe, unsafe = planted
    sae = planted_sae(p, activation=activation, enc_bias=-0.8)
    if activation == "jumprelu":
        with torch.no_grad():
            sae.threshold.copy_(torch.linspace(0.1, 0.5, sae.d_sae))
    f = select_safety_features(sae, safe, unsafe, min_effect=1.0)
    expected = sae.threshold[f.harmful] if activation == "jumprelu" else torch.zeros(f.harmful.numel())
    assert torch.equal(f.fast_threshold, expected.float())
    assert f.stats["fast_agreement"] == 1.0
    assert set(f.harmful.tolist()) == set(p.harmful.tolist())


def test_features_round_trip_through_a_safety_sae_file(planted, tmp_path) -> None:
    from steering_core.sae.safety_sae import SafetySAE, SiteSAE

    _, sae, safe, unsafe = planted
    f = select_safety_features(sae, safe, unsafe, min_effect=1.0, categories=["violence", "weapons"])
    path = SafetySAE([SiteSAE("double:3", "img", sae, f)]).save(tmp_path / "s.safetensors")
    loaded = SafetySAE.load(path).get("double:3").features
    assert loaded is not None
    for name, t in f.tensors().items():
        assert torch.equal(loaded.tensors()[name], t), name
    assert loaded.harm_scale == f.harm_scale and loaded.stats == f.stats
