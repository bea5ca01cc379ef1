"""Safety SAE files (round trip, damage, wrong kind, size checks) and SAELens import, against numpy references."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from steering_core import SafetyDirection
from steering_core.errors import DimensionMismatchError, SafeSteerFileError, WrongFileKindError
from steering_core.sae.safety_sae import SafetySAE, SiteSAE, import_saelens
from steering_core.sae.autoencoder import SafetyFeatures, SparseAutoencoder

pytestmark = pytest.mark.host_independent


def random_sae(d: int = 12, m: int = 40, k: int = 5, seed: int = 0) -> SparseAutoencoder:
    sae = SparseAutoencoder(d, m, k=k, seed=seed, input_scale=0.5)
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        sae.b_enc.copy_(torch.randn(m, generator=g) * 0.1)
        sae.b_dec.copy_(torch.randn(d, generator=g))
    return sae


def numpy_topk_codes(x: np.ndarray, w_enc: np.ndarray, b_enc: np.ndarray, b_in: np.ndarray, k: int,
                     scale: float = 1.0) -> np.ndarray:
    pre = (x * scale - b_in) @ w_enc + b_enc
    out = np.zeros_like(pre)
    for r in range(pre.shape[0]):
        idx = np.argsort(-pre[r])[:k]
        out[r, idx] = np.maximum(pre[r, idx], 0)
    return out


def test_encode_decode_match_numpy_reference():
    sae = random_sae()
    x = torch.randn(30, 12, generator=torch.Generator().manual_seed(3))
    ref = numpy_topk_codes(x.numpy().astype(np.float64), sae.W_enc.detach().double().numpy(),
                           sae.b_enc.detach().double().numpy(), sae.b_dec.detach().double().numpy(), 5, 0.5)
    z = sae.encode(x)
    np.testing.assert_allclose(z.detach().numpy(), ref, rtol=1e-5, atol=1e-5)
    assert int((z > 0).sum(-1).max()) <= 5
    recon = (ref @ sae.W_dec.detach().double().numpy() + sae.b_dec.detach().double().numpy()) / 0.5
    np.testing.assert_allclose(sae.decode(z).detach().numpy(), recon, rtol=1e-4, atol=1e-4)
    harmful = torch.tensor([3, 17, 29])
    np.testing.assert_allclose(sae.pre_activations(x, harmful).detach().numpy(),
                               sae.pre_activations(x)[:, harmful].detach().numpy(), rtol=1e-5, atol=1e-5)


def test_untied_input_bias_keeps_codes_when_decoder_bias_changes():
    sae = random_sae()
    x = torch.randn(8, 12)
    before = sae.encode(x)
    sae.untie_input_bias()
    with torch.no_grad():
        sae.b_dec.add_(3.0)
    assert torch.equal(sae.encode(x), before)


def bundle() -> SafetySAE:
    a, b = random_sae(seed=1), random_sae(seed=2)
    feats = SafetyFeatures([4, 9], [1.5, 0.8], [0.1, 0.0], [1, 2, 3], [0.2, 0.3, 0.4], harm_scale=2.5,
                           stats={"fast_agreement": 0.99})
    return SafetySAE([SiteSAE("double:3", "img", a, feats, {"adapted": {"to": "benign anchors"}}),
                      SiteSAE("single:7", "all", b)], {"class": "Flux", "hidden_size": 12})


def test_round_trip_is_exact_and_never_overwrites(tmp_path: Path):
    original = bundle()
    path = original.save(tmp_path / "s.safetensors")
    loaded = SafetySAE.load(path)
    assert loaded.site_keys == ["double:3", "single:7"] and loaded.model == original.model
    for a, b in zip(original, loaded, strict=True):
        assert a.stream == b.stream and a.info == b.info and a.sae.config() == b.sae.config()
        for name, t in a.sae.state_tensors().items():
            assert torch.equal(t, b.sae.state_tensors()[name]), name
    fa, fb = original.sites[0].features, loaded.sites[0].features
    assert fb is not None and fa is not None
    assert torch.equal(fa.harmful, fb.harmful) and torch.equal(fa.safe_profile, fb.safe_profile)
    assert fb.harm_scale == 2.5 and fb.stats == {"fast_agreement": 0.99} and loaded.sites[1].features is None
    assert "99.0%" in loaded.describe() and "decoder adapted" in loaded.describe()
    with pytest.raises(SafeSteerFileError, match="already exists"):
        original.save(path)


def test_bad_files_get_clear_errors(tmp_path: Path):
    path = bundle().save(tmp_path / "s.safetensors")
    with pytest.raises(SafeSteerFileError, match="size 12.*64|64"):
        SafetySAE.load(path, expected_d_in=64)
    direction = SafetyDirection.from_vectors(torch.ones(1, 12), ["global"]).save(tmp_path / "d.safetensors")
    with pytest.raises(WrongFileKindError, match="SafetyDirection.*SafetySAE"):
        SafetySAE.load(direction)
    damaged = tmp_path / "cut.safetensors"
    damaged.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(SafeSteerFileError, match="truncated"):
        SafetySAE.load(damaged)


def test_shape_mismatch_in_tensors_is_named():
    sae = random_sae()
    tensors = dict(sae.state_tensors())
    tensors["W_dec"] = torch.zeros(40, 11)
    with pytest.raises(DimensionMismatchError, match="W_dec"):
        SparseAutoencoder.from_tensors(tensors, sae.config())


def write_saelens(folder: Path, cfg: dict, tensors: dict[str, torch.Tensor]) -> Path:
    folder.mkdir(parents=True)
    (folder / "cfg.json").write_text(json.dumps(cfg))
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(folder / "sae_weights.safetensors"))
    return folder


def saelens_tensors(d: int = 10, m: int = 24, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {"W_enc": torch.randn(d, m, generator=g), "b_enc": torch.randn(m, generator=g) * 0.2,
            "W_dec": torch.randn(m, d, generator=g), "b_dec": torch.randn(d, generator=g)}


@pytest.mark.parametrize("style", ["v6", "v5"])
def test_saelens_topk_import_matches_the_saelens_formula(tmp_path: Path, style: str):
    t = saelens_tensors()
    cfg = {"d_in": 10, "d_sae": 24, "apply_b_dec_to_input": True, "normalize_activations": "none",
           "hook_name": "transformer_blocks.0"}
    cfg.update({"architecture": "topk", "k": 4} if style == "v6" else
               {"architecture": "standard", "activation_fn_str": "topk", "activation_fn_kwargs": {"k": 4}})
    site = import_saelens(write_saelens(tmp_path / style, cfg, t))
    assert site.site == "transformer_blocks.0" and site.sae.activation == "topk" and site.sae.k == 4
    x = torch.randn(16, 10)
    ref = numpy_topk_codes(x.double().numpy(), t["W_enc"].double().numpy(), t["b_enc"].double().numpy(),
                           t["b_dec"].double().numpy(), 4)
    np.testing.assert_allclose(site.sae.encode(x).detach().numpy(), ref, rtol=1e-5, atol=1e-5)
    ref_out = ref @ t["W_dec"].double().numpy() + t["b_dec"].double().numpy()
    np.testing.assert_allclose(site.sae(x).detach().numpy(), ref_out, rtol=1e-4, atol=1e-4)


def test_saelens_jumprelu_and_standard(tmp_path: Path):
    t = saelens_tensors(seed=1)
    thr = torch.rand(24, generator=torch.Generator().manual_seed(5))
    cfg = {"d_in": 10, "d_sae": 24, "architecture": "jumprelu", "apply_b_dec_to_input": False,
           "normalize_activations": "none"}
    jr = import_saelens(write_saelens(tmp_path / "jr", cfg, {**t, "threshold": thr}), site="double:2")
    x = torch.randn(16, 10)
    pre = x.double().numpy() @ t["W_enc"].double().numpy() + t["b_enc"].double().numpy()  # no b_dec on the input
    np.testing.assert_allclose(jr.sae.encode(x).detach().numpy(), np.maximum(pre, 0) * (pre > thr.double().numpy()),
                               rtol=1e-5, atol=1e-5)
    cfg = {"d_in": 10, "d_sae": 24, "architecture": "standard", "apply_b_dec_to_input": True,
           "normalize_activations": "none"}
    std = import_saelens(write_saelens(tmp_path / "std", cfg, t))
    pre = (x.double().numpy() - t["b_dec"].double().numpy()) @ t["W_enc"].double().numpy() + t["b_enc"].double().numpy()
    np.testing.assert_allclose(std.sae.encode(x).detach().numpy(), np.maximum(pre, 0), rtol=1e-5, atol=1e-5)


def test_saelens_refusals_name_the_problem(tmp_path: Path):
    t = saelens_tensors()
    with pytest.raises(SafeSteerFileError, match="cfg.json"):
        import_saelens(tmp_path)
    cfg = {"d_in": 10, "d_sae": 24, "architecture": "gated"}
    with pytest.raises(SafeSteerFileError, match="gated"):
        import_saelens(write_saelens(tmp_path / "g", cfg, t))
    cfg = {"d_in": 10, "d_sae": 24, "architecture": "topk", "k": 4, "normalize_activations": "expected_average_only_in"}
    with pytest.raises(SafeSteerFileError, match="normalize_activations"):
        import_saelens(write_saelens(tmp_path / "n", cfg, t))
    cfg = {"d_in": 10, "d_sae": 24, "architecture": "topk", "k": 4}
    with pytest.raises(SafeSteerFileError, match="W_dec"):
        import_saelens(write_saelens(tmp_path / "m", cfg, {k: v for k, v in t.items() if k != "W_dec"}))
