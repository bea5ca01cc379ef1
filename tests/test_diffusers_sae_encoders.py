"""SAE Blend/Repel and directions from a pipeline's own encoders, on a tiny diffusers Flux pipeline (CPU)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

import steering_core as sc
from steering_core.diffusers import PipelineTextEncoder, sae_blend_repel_pipeline, steer_pipeline
from steering_core.diffusers.tiny import tiny_flux_pipeline
from steering_core.encoders import directions_from_pairs, encode_pooled
from steering_core.directions.pooling import pool
from steering_core.sae.autoencoder import SafetyFeatures, SparseAutoencoder
from steering_core.sae.safety_sae import SafetySAE, SiteSAE

pytestmark = pytest.mark.host_independent

KW = dict(height=16, width=16, num_inference_steps=2, max_sequence_length=24, output_type="pt")


@pytest.fixture(scope="module")
def flux() -> Any:
    return tiny_flux_pipeline(num_layers=2, num_single_layers=2)


def _run(pipe: Any, prompt: str = "a red apple on a table") -> torch.Tensor:
    return pipe(prompt, generator=torch.Generator().manual_seed(0), **KW).images


def _bundle(hidden: int = 32) -> SafetySAE:
    sae = SparseAutoencoder(hidden, 4 * hidden, k=4, seed=3)
    harmful = torch.arange(6)
    features = SafetyFeatures(harmful=harmful, harmful_effect=torch.ones(6), fast_threshold=torch.zeros(6),
                              safe=torch.arange(6, 9), safe_profile=torch.full((3,), 0.5), harm_scale=1.0)
    return SafetySAE([SiteSAE("double:1", "img", sae, features)], model={"class": "FluxTransformer2DModel"})


def _block_outputs(pipe: Any, site_block: torch.nn.Module) -> list[tuple[torch.Tensor, ...]]:
    got: list[tuple[torch.Tensor, ...]] = []
    h = site_block.register_forward_hook(lambda _m, _i, out: got.append(tuple(o.clone() for o in out)))
    try:
        _run(pipe)
    finally:
        h.remove()
    return got


def test_sae_blend_repel_edits_exactly_the_gated_tokens_and_loads_from_file(flux: Any, tmp_path: Path) -> None:
    bundle = _bundle()
    path = bundle.save(tmp_path / "tiny_flux_sae.safetensors")
    loaded = sc.load(path)
    block = flux.transformer.transformer_blocks[1]
    base_img = _run(flux)
    base = _block_outputs(flux, block)
    with sae_blend_repel_pipeline(flux, loaded, beta=0.5, gamma=1.0) as handle:
        steered = _block_outputs(flux, block)
        handle.set_strength(0.0, 0.0)
        assert torch.equal(_run(flux), base_img)                               # beta = gamma = 0: untouched
    txt_b, img_b = base[0]
    txt_s, img_s = steered[0]
    assert torch.equal(txt_b, txt_s)                                           # the SAE reads the img stream only
    entry = loaded.sites[0]
    reference = sc.SAESteerer(entry.sae, entry.features, sc.SAESteerConfig(beta=0.5, gamma=1.0))
    expected = reference(img_b)
    torch.testing.assert_close(img_s, expected, rtol=0, atol=1e-6)
    changed = (img_s != img_b).any(-1)
    gated = reference.active_mask(img_b)
    assert bool(changed.any()) and torch.equal(changed, gated.reshape(changed.shape) & changed)
    assert torch.equal(img_s[~gated.reshape(changed.shape)], img_b[~gated.reshape(changed.shape)])
    print(f"\nSAE Blend/Repel on the tiny Flux: {int(gated.sum())} of {gated.numel()} image tokens gated")
    assert torch.equal(_run(flux), base_img)                                   # removed


def test_sae_at_a_block_the_model_lacks_is_a_clear_error(flux: Any) -> None:
    bundle = _bundle()
    bundle.sites[0].site = "double:7"
    with pytest.raises(sc.SafeSteerError, match=r"double:7.*2 double / 2 single"):
        sae_blend_repel_pipeline(flux, bundle)


def test_pipeline_encoder_gives_the_transformers_conditioning_and_gates_match(flux: Any) -> None:
    encoder = PipelineTextEncoder(flux, max_sequence_length=24)
    prompts = ["a red apple on a table", "a man beating a dog with a stick"]
    enc = encoder.encode(prompts)
    with torch.no_grad():
        ref = flux.encode_prompt(prompt=prompts, prompt_2=None, max_sequence_length=24)[0]
    assert encoder.hidden_size == 48 and torch.equal(enc.hidden, ref.float()) and bool(enc.mask.all())
    # estimate -> calibrate on benign anchors -> steer, gated: a prompt is steered iff its gate opens
    direction = directions_from_pairs(encoder, {c: sc.category_pairs(c)[:6] for c in ("violence", "hate")})
    direction = sc.calibrate_gates(direction.select(["global"]), encode_pooled(encoder, sc.anchor_prompts()[:40]),
                                   false_positive_rate=0.5)
    assert direction.dim == 48 and direction.source_model == encoder.name
    scores = direction.gate_scores(pool(enc.hidden, None, "mean"))[:, 0]
    opens = (scores < direction.thresholds[0]).tolist()
    assert opens.count(True) >= 1 or opens.count(False) >= 1
    for prompt, gate_open in zip(prompts, opens):
        base = _run(flux, prompt)
        with steer_pipeline(flux, direction, strength=3.0, mode="gated"):
            steered = _run(flux, prompt)
        assert torch.equal(steered, base) != gate_open, prompt
