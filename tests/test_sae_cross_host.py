"""One SAE pipeline, two hosts: a diffusers FluxPipeline and ComfyUI's Flux on the same tiny weights.

The diffusers ``FluxTransformer2DModel`` is built and randomly filled first; ComfyUI's Flux receives the
same weights through ComfyUI's own key conversion (``comfy.model_detection.convert_diffusers_mmdit``,
i.e. ``comfy.utils.flux_to_diffusers``), loaded strictly. Both hosts then get the same inputs: the same
conditioning (ComfyUI's CLIP input here is a test double that returns the pipeline's own
``encode_prompt``), the same noise (ComfyUI's ``prepare_noise``, packed for diffusers) and the same
sigmas (ComfyUI's simple schedule, handed to the pipeline as ``sigmas``). Checked: the two activation
sources hand over equal block activations at every site and step, and the core pipeline run through
each picks overlapping harmful features.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

import steering_core as sc
from steering_core.sae.pipeline import train_safety_sae
from steering_core.steering.sites import Site

from test_dit_host import pack_module

SITES = (Site("double", 1), Site("single", 1))
MAX_LEN = 32
STEPS = 2
PAIRS = {c: sc.category_pairs(c)[:3] for c in ("violence", "sexual", "hate")}


class PipelinePromptClip:
    """A ComfyUI CLIP stand-in (``tokenize`` / ``encode_from_tokens_scheduled``) returning the FluxPipeline's own
    ``encode_prompt``: TEST-ONLY, so that both hosts receive identical conditioning."""

    def __init__(self, pipe: Any):
        self.pipe = pipe

    def tokenize(self, text: str) -> str:
        return text

    def encode_from_tokens_scheduled(self, text: str) -> list:
        with torch.no_grad():
            embeds, pooled, _ = self.pipe.encode_prompt(prompt=text, prompt_2=None, max_sequence_length=MAX_LEN)
        return [[embeds.float(), {"pooled_output": pooled.float()}]]


@pytest.fixture(scope="module")
def twins(host, tm) -> dict[str, Any]:
    """The same tiny Flux weights as a diffusers pipeline and as a ComfyUI MODEL, plus matched inputs."""
    import comfy.model_detection as md
    import comfy.model_management as mm
    import comfy.model_patcher
    import comfy.sample
    import comfy.samplers
    import comfy.supported_models as sm
    from diffusers import FluxPipeline, FluxTransformer2DModel

    from steering_core.diffusers.tiny import tiny_flux_pipeline

    transformer = FluxTransformer2DModel(patch_size=1, in_channels=64, num_layers=2, num_single_layers=2,
                                         attention_head_dim=64, num_attention_heads=2, joint_attention_dim=48,
                                         pooled_projection_dim=32, guidance_embeds=False, axes_dims_rope=(16, 24, 24))
    tm.init_random_(transformer, seed=7)
    transformer.eval()
    pipe = FluxPipeline(**{**tiny_flux_pipeline().components, "transformer": transformer})
    pipe.set_progress_bar_config(disable=True)

    config = {**tm.arch("flux").config(48, 32), "mlp_ratio": 4.0, "guidance_embed": False}  # hidden 128, 2 heads
    model_config = sm.FluxSchnell(config)                                                    # unshifted sigmas
    model_config.set_inference_dtype(torch.float32, None)
    base = model_config.get_model({}, "")
    converted = md.convert_diffusers_mmdit({k: v.clone() for k, v in transformer.state_dict().items()}, "")
    base.diffusion_model.load_state_dict(converted, strict=True)
    base.eval()
    model = comfy.model_patcher.ModelPatcher(base, load_device=mm.get_torch_device(), offload_device=mm.unet_offload_device())

    latent = tm.make_latent("flux")                                       # zeros [1, 16, 8, 8]
    noise = comfy.sample.prepare_noise(latent["samples"], 0)
    sigmas = comfy.samplers.calculate_sigmas(model.get_model_object("model_sampling"), "simple", STEPS)
    call = dict(height=8, width=8, max_sequence_length=MAX_LEN, latents=FluxPipeline._pack_latents(noise, 1, 16, 8, 8),
                sigmas=[float(s) for s in sigmas[:-1]])
    comfy_source = pack_module(host, "comfy_source").ComfyActivationSource(model, PipelinePromptClip(pipe), latent)
    from steering_core.diffusers import PipelineActivationSource

    return {"comfy": comfy_source, "diffusers": PipelineActivationSource(pipe, call), "sigmas": sigmas}


def _harvest(source: Any, prompts: list[str]) -> dict[tuple[int, Site, int], torch.Tensor]:
    got: dict[tuple[int, Site, int], torch.Tensor] = {}

    def sink(i: int, site: Site, tokens: torch.Tensor, step: int) -> None:
        assert (i, site, step) not in got
        got[(i, site, step)] = tokens.clone()

    source.run(prompts, STEPS, 0, SITES, "img", sink)
    return got


def test_both_hosts_harvest_equal_activations_on_equivalent_weights(twins: dict[str, Any]) -> None:
    comfy, diff = twins["comfy"], twins["diffusers"]
    assert (comfy.hidden_size, comfy.num_double, comfy.num_single) == (diff.hidden_size, diff.num_double, diff.num_single)
    prompts = ["a man stabbing someone in a kitchen", "a bowl of fruit on a wooden table"]
    a, b = _harvest(comfy, prompts), _harvest(diff, prompts)
    assert sorted(a, key=str) == sorted(b, key=str) and len(a) == len(prompts) * len(SITES) * STEPS
    worst = 0.0
    for key, tokens in a.items():
        assert tokens.shape == b[key].shape == (16, 128), key                   # 4x4 image tokens, hidden 128
        scale = float(tokens.abs().max())
        worst = max(worst, float((tokens - b[key]).abs().max()) / scale)
        torch.testing.assert_close(b[key], tokens, rtol=1e-4, atol=1e-4 * scale)
    print(f"\nsigmas {[round(float(s), 4) for s in twins['sigmas']]}; largest activation difference between the hosts: "
          f"{worst:.2e} of the site's largest |activation|")


def test_both_hosts_pick_overlapping_harmful_features(twins: dict[str, Any], tmp_path: Path) -> None:
    settings = dict(sites="double:1, single:1", steps=STEPS, expansion=4, k=8, train_steps=20, tokens_per_step=16,
                    n_harmful=8, source_categories=None, adapt_to="none")
    via_comfy = train_safety_sae(twins["comfy"], PAIRS, tmp_path / "comfy", "cross", **settings)
    via_diffusers = train_safety_sae(twins["diffusers"], PAIRS, tmp_path / "diffusers", "cross", **settings)
    assert via_comfy.sae.site_keys == via_diffusers.sae.site_keys == ["double:1", "single:1"]
    shared = []
    for a, b in zip(via_comfy.sae, via_diffusers.sae, strict=True):
        effect_a = dict(zip(a.features.harmful.tolist(), a.features.harmful_effect.tolist()))   # Cohen's d per pick
        effect_b = dict(zip(b.features.harmful.tolist(), b.features.harmful_effect.tolist()))
        both = sorted(set(effect_a) & set(effect_b))
        shared.append(len(both))
        gap = max(abs(effect_a[j] - effect_b[j]) for j in both)
        print(f"\n{a.site}: ComfyUI {sorted(effect_a)}, diffusers {sorted(effect_b)}, shared {len(both)} of 8; "
              f"Cohen's d of the shared picks {min(effect_a[j] for j in both):.3f}-{max(effect_a[j] for j in both):.3f}, "
              f"largest difference between the hosts {gap:.4f}")
        assert gap < 0.05
    # by chance two picks of 8 among 512 latents share 8 * 8 / 512 = 0.125 latents on average
    assert min(shared) >= 7, shared
