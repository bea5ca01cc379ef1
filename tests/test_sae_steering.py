"""SAE steering (Repel / Blend, gated, fast and full paths) against closed forms and numpy references."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from planted_sae import planted_atoms, planted_sae, prompts, tokens

from steering_core.errors import DimensionMismatchError, SafeSteerError
from steering_core.sae.autoencoder import SafetyFeatures, SparseAutoencoder
from steering_core.sae.features import select_safety_features
from steering_core.sae.steering import SAESteerConfig, SAESteerer


pytestmark = [pytest.mark.usefixtures("one_torch_thread"), pytest.mark.host_independent]


@pytest.fixture(scope="module")
def planted():
    """Planted near-orthogonal dictionary (D=512, M=1024, TopK k=4, encoder bias -0.8), features
    chosen on 40 + 40 prompts, and 1200 held-out tokens (400 unsafe, 400 benign, 400 safe)."""
    p = planted_atoms()
    sae = planted_sae(p)
    features = select_safety_features(sae, prompts(p, 40, "safe", 1), prompts(p, 40, "unsafe", 2), min_effect=1.0)
    g = torch.Generator().manual_seed(9)
    held = torch.cat([tokens(p, 400, kind, g) for kind in ("unsafe", "benign", "safe")])
    return p, sae, features, held


def _steerer(sae, features, **cfg) -> SAESteerer:
    return SAESteerer(sae, features, SAESteerConfig(**cfg))


# ------------------------------------------------------------------ (a) Repel switches harm off
@pytest.mark.parametrize("path", ["fast", "full"])
def test_repel_switches_every_harmful_latent_off_under_full_topk(planted, path: str) -> None:
    p, sae, f, held = planted
    assert set(f.harmful.tolist()) == set(p.harmful.tolist())
    steerer = _steerer(sae, f, gamma=1.0, path=path)
    gate = steerer.active_mask(held)
    out = steerer(held)
    assert 200 < int(gate.sum()) < 400  # ~70% of the unsafe tokens carry a harmful atom; no benign/safe token
    with torch.no_grad():
        z0, z1 = sae.encode(held), sae.encode(out)
        pre1 = sae.pre_activations(out)
    harmful = f.harmful
    assert float(z1[gate][:, harmful].max()) == 0.0
    assert float(pre1[gate][:, harmful].max()) <= 0.0
    assert torch.equal(out[~gate], held[~gate])
    # Non-harmful codes barely move. The move is sum_i c_i d_i over <= 2 harmful atoms (c ~ 1.2-2.2);
    # it changes pre_j of another latent by sum_i c_i <d_j, d_i>, |<d_j, d_i>| ~ 1/sqrt(512) = 0.044,
    # i.e. by ~0.1 on codes of 1.2-2.2: a relative L2 change of ~0.05 on average, and the encoder bias
    # keeps TopK from refilling the freed slots with cross-talk latents.
    # Measured: mean 0.048, 95th percentile 0.097, max 0.166.
    keep = torch.ones(sae.d_sae, dtype=torch.bool)
    keep[harmful] = False
    before, after = z0[gate][:, keep], z1[gate][:, keep]
    rel = ((after - before).norm(dim=1) / before.norm(dim=1)).double()
    assert float(rel.mean()) <= 0.08
    assert float(torch.quantile(rel, 0.95)) <= 0.15
    assert float(rel.max()) <= 0.25


def test_repel_closed_form_with_a_biorthogonal_dictionary() -> None:
    """Orthonormal atoms, W_enc = W_dec^T, zero biases: G = I and c = z_A + margin exactly."""
    d, scale, margin = 16, 2.5, 0.01
    q, _ = torch.linalg.qr(torch.randn(d, d, generator=torch.Generator().manual_seed(0), dtype=torch.float64))
    sae = SparseAutoencoder(d, d, activation="relu", input_scale=scale, seed=None)
    with torch.no_grad():
        sae.W_dec.copy_(q.T.float())
        sae.W_enc.copy_(q.float())
        sae.b_enc.zero_()
        sae.b_dec.zero_()
    harmful = [2, 5, 11]
    f = SafetyFeatures(harmful=harmful, harmful_effect=[3.0, 2.0, 1.0], fast_threshold=[0.0, 0.0, 0.0])
    x = torch.randn(50, d, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    out = _steerer(sae, f, gamma=1.0, margin=margin)(x)
    atoms = q.T.numpy() / scale  # d'_j
    z = np.maximum(x.numpy() * scale @ q.numpy(), 0.0)
    expected = x.numpy().copy()
    for r in range(x.shape[0]):
        for j in harmful:
            if z[r, j] > 0:
                expected[r] -= (z[r, j] + margin) * atoms[j]
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------------ (b) identity and untouched tokens
def test_zero_strengths_and_untouched_tokens_are_bit_identical(planted) -> None:
    _, sae, f, held = planted
    for path in ("fast", "full"):
        assert _steerer(sae, f, beta=0.0, gamma=0.0, path=path)(held) is held
    gate = _steerer(sae, f).active_mask(held)
    for beta, gamma in ((0.0, 1.0), (0.7, 0.0), (1.3, 0.4), (2.0, 3.0)):
        out = _steerer(sae, f, beta=beta, gamma=gamma)(held)
        assert torch.equal(out[~gate], held[~gate])
        assert not torch.equal(out[gate], held[gate])
    benign = held[400:800]
    assert not bool(_steerer(sae, f).active_mask(benign).any())
    assert _steerer(sae, f, beta=1.0)(benign) is benign  # nothing gated: the input itself comes back


def test_no_harmful_latent_is_a_no_op(planted) -> None:
    _, sae, _, held = planted
    empty = SafetyFeatures(harmful=torch.zeros(0, dtype=torch.long), harmful_effect=[], fast_threshold=[])
    for path in ("fast", "full"):
        steerer = _steerer(sae, empty, beta=1.0, gamma=1.0, path=path)
        assert steerer(held) is held
        assert not bool(steerer.active_mask(held).any())


# ------------------------------------------------------------------ (c) fast vs full path
def test_fast_path_matches_full_topk_where_patterns_agree() -> None:
    """A TopK SAE without an encoder bias: free TopK slots go to cross-talk latents, so the fast
    rule (pre_j > calibrated threshold) and TopK disagree on some tokens. Where the gates agree, Blend is the
    same on both paths; Repel's active-set loop reads "off" by each path's own rule (fast: pre_j <= theta_j,
    full TopK: pre_j <= 0, which without an encoder bias holds about half the harmful latents on every token),
    so at gamma = 1 each path leaves its own reading off, and the fast path's move is the smaller one."""
    p = planted_atoms(256, 512)
    sae = planted_sae(p, enc_bias=0.0)
    kw = {"lo": 1.5}
    f = select_safety_features(sae, prompts(p, 40, "safe", 1, **kw), prompts(p, 40, "unsafe", 2, **kw), min_effect=1.0)
    assert float(f.fast_threshold.min()) > 0  # the calibrated TopK cut: the two "off" rules really differ
    g = torch.Generator().manual_seed(9)
    held = torch.cat([tokens(p, 400, kind, g, **kw) for kind in ("unsafe", "benign", "safe")])
    for beta, gamma in ((0.0, 1.0), (0.8, 0.0), (0.5, 0.5)):
        fast, full = _steerer(sae, f, beta=beta, gamma=gamma), _steerer(sae, f, beta=beta, gamma=gamma, path="full")
        pre_fast, z_fast = fast.harmful_codes(held)
        with torch.no_grad():  # the fast path's pre-activations are the SAE's restricted ones
            torch.testing.assert_close(pre_fast, sae.pre_activations(held, f.harmful), rtol=1e-6, atol=1e-6)
        pre_full, z_full = full.harmful_codes(held)
        on_fast, on_full = z_fast > 0, z_full > 0
        same = (on_fast == on_full).all(1)
        # measured on these held-out tokens: 0.9975 (3 of 1200 differ); calibration tokens: 1.0
        assert float(same.float().mean()) >= 0.97
        out_fast, out_full = fast(held), full(held)
        if gamma == 0:
            torch.testing.assert_close(out_fast[same], out_full[same], rtol=1e-5, atol=1e-5)
            continue
        rows = same & on_fast.any(1)
        with torch.no_grad():  # each path's own reading of the result: every harmful latent off
            after_fast = sae.pre_activations(out_fast[rows], f.harmful)
            after_full = sae.pre_activations(out_full[rows], f.harmful)
        if gamma == 1:
            assert bool((after_fast <= fast.off_level("cpu") + 1e-5).all())
            assert not bool(fast.active_mask(out_fast).any())
            assert float(after_full.max()) <= 1e-5
        # the fast path pushes only what its gate reads on; the full TopK path every positive harmful latent
        move_fast = (out_fast[rows] - held[rows]).norm(dim=1)
        move_full = (out_full[rows] - held[rows]).norm(dim=1)
        # measured: 1.0 of the 266 rows at (0, 1), 0.96 at (0.5, 0.5); median ratio 0.995 / 0.998
        assert float((move_fast <= move_full + 1e-6).float().mean()) >= 0.9


@pytest.mark.parametrize("activation", ["relu", "jumprelu"])
def test_fast_and_full_paths_agree_everywhere_for_relu_and_jumprelu(planted, activation: str) -> None:
    p, _, _, held = planted
    sae = planted_sae(p, activation=activation)
    if activation == "jumprelu":
        with torch.no_grad():
            sae.threshold.copy_(torch.linspace(0.0, 0.6, sae.d_sae))
    g = torch.Generator().manual_seed(4)
    safe = [tokens(p, 8, "safe", g) for _ in range(30)]
    unsafe = [tokens(p, 8, "unsafe", g) for _ in range(30)]
    f = select_safety_features(sae, safe, unsafe, min_effect=1.0)
    for beta, gamma in ((0.0, 1.0), (0.6, 0.8)):
        fast, full = _steerer(sae, f, beta=beta, gamma=gamma), _steerer(sae, f, beta=beta, gamma=gamma, path="full")
        assert torch.equal(fast.active_mask(held), full.active_mask(held))
        torch.testing.assert_close(fast(held), full(held), rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------------ (d) Blend closed form
def _np_topk_codes(sae: SparseAutoencoder, x: np.ndarray) -> np.ndarray:
    bias = (sae.b_dec if sae.tied_input_bias else sae.b_in).detach().double().numpy()
    pre = (x * sae.input_scale - bias) @ sae.W_enc.detach().double().numpy() + sae.b_enc.detach().double().numpy()
    z = np.zeros_like(pre)
    top = np.argsort(-pre, axis=1)[:, :sae.k]
    rows = np.arange(len(pre))[:, None]
    z[rows, top] = np.maximum(pre[rows, top], 0.0)
    return z


def test_blend_matches_the_formula_in_numpy() -> None:
    d, m = 24, 48
    g = torch.Generator().manual_seed(7)
    sae = SparseAutoencoder(d, m, k=6, input_scale=2.0, seed=3)
    with torch.no_grad():
        sae.b_dec.copy_(0.2 * torch.randn(d, generator=g))
        sae.b_enc.copy_(0.1 * torch.randn(m, generator=g))
        sae.W_dec.mul_(0.5 + torch.rand(m, 1, generator=g))  # non-unit atoms, as after adaptation
    harmful, safe = [3, 10, 17, 30], [5, 8, 40]
    f = SafetyFeatures(harmful=harmful, harmful_effect=[2.0, 1.5, 1.2, 1.0], fast_threshold=[0.0] * 4,
                       safe=safe, safe_profile=[0.4, 0.0, 1.1], harm_scale=0.9)
    x = torch.randn(3, 40, d, generator=g, dtype=torch.float64)
    beta = 0.6
    out = _steerer(sae, f, beta=beta, gamma=0.0, path="full")(x)
    xs = x.reshape(-1, d).numpy()
    z = _np_topk_codes(sae, xs)
    w_dec, b_dec, s = sae.W_dec.detach().double().numpy(), sae.b_dec.detach().double().numpy(), sae.input_scale

    def decode(codes: np.ndarray) -> np.ndarray:
        return (codes @ w_dec + b_dec) / s

    rho = np.minimum(1.0, z[:, harmful].sum(1) / 0.9)
    z_t = z.copy()
    z_t[:, harmful] = 0.0
    z_t[:, safe] += rho[:, None] * np.array([0.4, 0.0, 1.1])
    target = decode(z_t) + (xs - decode(z))
    gated = (z[:, harmful] > 0).any(1)
    assert 0 < gated.sum() < len(xs)
    expected = np.where(gated[:, None], xs + beta * (target - xs), xs)
    np.testing.assert_allclose(out.reshape(-1, d).numpy(), expected, rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------------ (e) linearity
def test_repel_shift_is_linear_in_gamma_and_terms_add(planted) -> None:
    _, sae, f, held = planted
    x = held.double()
    shift = {g: _steerer(sae, f, gamma=g)(x) - x for g in (1.0, 0.25, 0.5, 2.0)}
    for g in (0.25, 0.5, 2.0):
        torch.testing.assert_close(shift[g], g * shift[1.0], rtol=1e-5, atol=1e-6)
    # with Blend on, Repel acts on the blended point: its shift there is still linear in gamma
    blend = _steerer(sae, f, beta=0.7, gamma=0.0)(x) - x
    both = {g: _steerer(sae, f, beta=0.7, gamma=g)(x) - x - blend for g in (0.5, 1.0)}
    torch.testing.assert_close(both[0.5], 0.5 * both[1.0], rtol=1e-5, atol=1e-6)
    assert not torch.allclose(both[1.0], shift[1.0])  # Blend already removed part of what Repel would


# ------------------------------------------------------------------ (f) active-set loop
def _toy_sae(atoms: list[list[float]], k: int) -> SparseAutoencoder:
    w = torch.tensor(atoms, dtype=torch.float32)
    sae = SparseAutoencoder(w.shape[1], w.shape[0], k=k, seed=None)
    with torch.no_grad():
        sae.W_dec.copy_(w)
        sae.W_enc.copy_(w.T)
        sae.b_enc.zero_()
        sae.b_dec.zero_()
    return sae


@pytest.mark.parametrize("path", ["fast", "full"])
def test_active_set_loop_switches_off_a_latent_the_first_move_turns_on(path: str) -> None:
    """d0 = e0, d1 = -0.8 e0 + 0.6 e1 (<d0, d1> = -0.8). At x, pre = (1, -0.3): only latent 0 is on.
    Removing (1 + margin) d0 raises pre_1 by 0.8 (1 + margin) to ~0.5, so latent 1 must join the set."""
    margin = 1e-3
    sae = _toy_sae([[1, 0, 0], [-0.8, 0.6, 0], [0, 0, 1]], k=2)
    f = SafetyFeatures(harmful=[0, 1], harmful_effect=[2.0, 1.0], fast_threshold=[0.0, 0.0])
    x = torch.tensor([[1.0, 0.5 / 0.6, 0.5]], dtype=torch.float64)
    d0, d1 = np.array([1, 0, 0.0]), np.array([-0.8, 0.6, 0.0])
    xn = x.numpy()[0]
    assert (xn @ d0, xn @ d1) == pytest.approx((1.0, -0.3))
    one_round = xn - (1 + margin) * d0
    assert one_round @ d1 > 0.4  # the naive single move turns latent 1 on
    c = np.linalg.solve(np.array([[1.0, -0.8], [-0.8, 1.0]]), np.array([1.0, -0.3]) + margin)
    expected = xn - c[0] * d0 - c[1] * d1
    steerer = _steerer(sae, f, gamma=1.0, margin=margin, path=path)
    out = steerer(x)
    np.testing.assert_allclose(out.numpy()[0], expected, rtol=1e-6, atol=1e-6)
    with torch.no_grad():
        assert float(sae.encode(out)[0, :2].abs().max()) == 0.0
        np.testing.assert_allclose(sae.pre_activations(out)[0, :2].numpy(), [-margin, -margin], atol=1e-6)
    assert steerer.stats.max_rounds == 2


@pytest.mark.parametrize(("theta", "rounds"), [(0.6, 1), (0.4, 2)])
def test_fast_path_loop_reads_off_by_its_own_thresholds(theta: float, rounds: int) -> None:
    """The toy above: the first move lifts pre_1 from -0.3 to 0.8 (1 + margin) - 0.3 = 0.5008. With the fast
    threshold theta_1 = 0.6 latent 1 still reads off (fast gate: pre_1 > theta_1), so the fast path stops after
    one round; with theta_1 = 0.4 it is on, joins the set, and the result is the two-latent solve. The full
    TopK path reads any positive pre-activation as possibly on and always takes the second round."""
    margin = 1e-3
    sae = _toy_sae([[1, 0, 0], [-0.8, 0.6, 0], [0, 0, 1]], k=2)
    f = SafetyFeatures(harmful=[0, 1], harmful_effect=[2.0, 1.0], fast_threshold=[0.0, theta])
    x = torch.tensor([[1.0, 0.5 / 0.6, 0.5]], dtype=torch.float64)
    d0, d1 = np.array([1, 0, 0.0]), np.array([-0.8, 0.6, 0.0])
    xn = x.numpy()[0]
    one = xn - (1 + margin) * d0
    c = np.linalg.solve(np.array([[1.0, -0.8], [-0.8, 1.0]]), np.array([1.0, -0.3]) + margin)
    two = xn - c[0] * d0 - c[1] * d1
    fast = _steerer(sae, f, gamma=1.0, margin=margin, path="fast")
    np.testing.assert_allclose(fast(x).numpy()[0], one if rounds == 1 else two, rtol=1e-6, atol=1e-6)
    assert fast.stats.max_rounds == rounds
    np.testing.assert_allclose(fast.off_level("cpu").numpy(), [0.0, theta], rtol=1e-6)
    full = _steerer(sae, f, gamma=1.0, margin=margin, path="full")
    np.testing.assert_allclose(full(x).numpy()[0], two, rtol=1e-6, atol=1e-6)
    assert full.stats.max_rounds == 2


def test_active_set_loop_catches_a_latent_topk_left_out() -> None:
    """k=1: latent 1 (harmful, pre 0.5) loses to latent 0 (pre 1.0); once 0 is removed TopK would pick 1."""
    margin = 1e-3
    sae = _toy_sae([[1, 0, 0], [0, 1, 0], [0, 0, 1]], k=1)
    f = SafetyFeatures(harmful=[0, 1], harmful_effect=[2.0, 1.0], fast_threshold=[0.0, 0.0])
    x = torch.tensor([[1.0, 0.5, 0.2]])
    steerer = _steerer(sae, f, gamma=1.0, margin=margin, path="full")
    out = steerer(x)
    torch.testing.assert_close(out, torch.tensor([[-margin, -margin, 0.2]]), rtol=0, atol=1e-6)
    with torch.no_grad():
        assert float(sae.encode(out)[0, :2].abs().max()) == 0.0
    assert steerer.stats.max_rounds == 2


# ------------------------------------------------------------------ (g) shapes and dtypes
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_leading_dims_and_half_precision_round_trip(planted, dtype: torch.dtype) -> None:
    _, sae, f, held = planted
    x = held[torch.randperm(1200, generator=torch.Generator().manual_seed(0))[:120]].reshape(2, 3, 20, -1).to(dtype)
    for path in ("fast", "full"):
        steerer = _steerer(sae, f, beta=0.5, gamma=1.0, path=path)
        out = steerer(x)
        assert out.shape == x.shape and out.dtype == dtype and out.device == x.device
        # the half-precision input is read exactly in float32, so the result is the float32 one, rounded
        assert torch.equal(out, steerer(x.float()).to(dtype))
        assert torch.equal(out.reshape(-1, x.shape[-1]), steerer(x.reshape(-1, x.shape[-1])))
        gate = steerer.active_mask(x)
        assert gate.shape == x.shape[:-1] and bool(gate.any()) and not bool(gate.all())
        assert torch.equal(out[~gate], x[~gate])
        # harmful latents are off after steering (checked in float32 on the rounded result)
        with torch.no_grad():
            assert float(sae.encode(out.float())[gate][:, f.harmful].max()) == 0.0


def test_stats_count_tokens_and_gated(planted) -> None:
    _, sae, f, held = planted
    steerer = _steerer(sae, f)
    n_gated = int(steerer.active_mask(held).sum())
    steerer(held)
    steerer(held[:10])
    stats = steerer.stats.as_dict()
    assert stats["calls"] == 2 and stats["tokens"] == 1210 and stats["last_tokens"] == 10
    assert stats["gated"] == n_gated + int(steerer.active_mask(held[:10]).sum())
    steerer.reset_stats()
    assert steerer.stats.calls == 0


def test_config_and_shape_errors(planted) -> None:
    _, sae, f, _ = planted
    with pytest.raises(SafeSteerError, match="path"):
        SAESteerConfig(path="slow")
    with pytest.raises(SafeSteerError, match="gamma"):
        SAESteerConfig(gamma=-1.0)
    with pytest.raises(DimensionMismatchError, match="this site"):
        _steerer(sae, f)(torch.zeros(2, 7))
    bad = SafetyFeatures(harmful=[sae.d_sae], harmful_effect=[1.0], fast_threshold=[0.0])
    with pytest.raises(SafeSteerError, match="latent indices"):
        SAESteerer(sae, bad)


# ------------------------------------------------------------------ device footprint and float32 solve
def test_fast_path_keeps_only_the_harmful_slices_on_a_device(planted) -> None:
    """On another device the fast path holds the harmful encoder columns (input scale folded in) and decoder
    rows, their folded biases and thresholds, the Blend vector and G: (2h + 1) D + 2h + h^2 float32 values,
    never the SAE."""
    _, sae, f, _ = planted
    steerer = _steerer(sae, f, beta=0.5)
    held = steerer._on(torch.device("meta"))
    tensors = held.fast_path_tensors()
    h, d = int(f.harmful.numel()), sae.d_in
    assert held.sae is None and all(t.device.type == "meta" and t.dtype == torch.float32 for t in tensors)
    assert sum(t.numel() for t in tensors) == (2 * h + 1) * d + 2 * h + h * h
    assert sum(t.numel() for t in tensors) < 0.01 * sum(p.numel() for p in (sae.W_enc, sae.W_dec))


def test_batched_float32_active_set_solve_matches_per_token_numpy(planted) -> None:
    """Repel's coefficients for every gated token at once, in float32, equal a float64 numpy solve of each
    token's own system G_AA c_A = pre_A + margin on its final active set."""
    _, sae, f, held = planted
    steerer = _steerer(sae, f, margin=1e-3)
    pre, z = steerer.harmful_codes(held)
    gated = (z > 0).any(1)
    coef, final, _ = steerer.repel_coefficients(pre[gated], (z > 0)[gated])
    assert coef.dtype == torch.float32 and int(gated.sum()) > 10
    gram = (sae.W_enc.detach()[:, f.harmful].double().T @ sae.W_dec.detach()[f.harmful].double().T).numpy()
    for row in range(coef.shape[0]):
        a = final[row].numpy()
        expected = np.zeros(a.shape[0])
        expected[a] = np.linalg.solve(gram[np.ix_(a, a)], pre[gated][row].double().numpy()[a] + 1e-3)
        np.testing.assert_allclose(coef[row].numpy(), expected, rtol=1e-4, atol=1e-5)
