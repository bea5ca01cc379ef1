"""The core Safety SAE pipeline through a diffusers pipeline (``steering_core.diffusers.train_safety_sae``), CPU.

On a tiny random FluxPipeline: the activation source hands over exactly the block outputs a plain torch
forward hook sees; the trained file loads with the pipeline's sites and hidden size and drives SAE
Blend/Repel; a run cancelled from its progress callback resumes without harvesting again and ends
bit-identical to an uninterrupted run; the same settings reuse the saved file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

import steering_core as sc
from steering_core.diffusers import PipelineActivationSource, sae_blend_repel_pipeline, train_safety_sae
from steering_core.diffusers.tiny import tiny_flux_pipeline
from steering_core.sae.safety_sae import SafetySAE
from steering_core.steering.sites import Site

pytestmark = [pytest.mark.host_independent, pytest.mark.usefixtures("one_torch_thread")]

CALL = dict(height=16, width=16, max_sequence_length=48)
PAIRS = {c: sc.category_pairs(c)[:2] for c in ("violence", "sexual", "hate")}
TRAIN = dict(pairs=PAIRS, pairs_per_category=2, sites="double:1, single:1", steps=2, expansion=2, k=8,
             train_steps=30, tokens_per_step=16, n_harmful=4, source_categories=["violence", "sexual"],
             adapt_to="held-out categories (benign only)", call_kwargs=CALL)


class Cancelled(Exception):
    """What a host raises from the progress callback to stop a run."""


@pytest.fixture(scope="module")
def flux() -> Any:
    return tiny_flux_pipeline(num_layers=2, num_single_layers=2)


def test_source_hands_over_exactly_the_block_outputs(flux: Any) -> None:
    got: list[tuple[int, Site, torch.Tensor, int]] = []
    seen: dict[str, list[torch.Tensor]] = {"double": [], "single": []}
    hooks = [flux.transformer.transformer_blocks[1].register_forward_hook(
                 lambda _m, _i, out: seen["double"].append(out[1].clone())),       # (txt, img): img second
             flux.transformer.single_transformer_blocks[0].register_forward_hook(
                 lambda _m, _i, out: seen["single"].append(out[1].clone()))]
    try:
        PipelineActivationSource(flux, CALL).run(["a cat on a sofa", "a man with a knife"], 2, 0,
                                                 (Site("double", 1), Site("single", 0)), "img",
                                                 lambda i, s, t, step: got.append((i, s, t.clone(), step)))
    finally:
        for h in hooks:
            h.remove()
    assert len(seen["double"]) == len(seen["single"]) == 4                         # 2 prompts x 2 steps
    for kind, site in (("double", Site("double", 1)), ("single", Site("single", 0))):
        rows = [(i, t, step) for i, s, t, step in got if s == site]
        assert [(i, step) for i, _, step in rows] == [(0, 0), (0, 1), (1, 0), (1, 1)]
        for (_, tokens, _), ref in zip(rows, seen[kind], strict=True):
            assert torch.equal(tokens, ref[0].float())                           # [T, H] of the one prompt
    assert not hasattr(flux.transformer, "_diffusers_hook")                       # hooks removed


def test_trained_file_loads_with_the_pipelines_sites_and_drives_blend_repel(flux: Any, tmp_path: Path) -> None:
    result = train_safety_sae(flux, tmp_path, "tiny_flux", **TRAIN)
    assert Path(result.path) == tmp_path / "tiny_flux.safetensors" and not result.reused
    loaded = sc.load(result.path)
    assert isinstance(loaded, SafetySAE)
    assert loaded.site_keys == ["double:1", "single:1"]
    assert all(e.sae.d_in == 32 and e.sae.d_sae == 64 and e.stream == "img" for e in loaded)   # hidden 32, x2
    assert all(e.features is not None and e.features.harmful.numel() == 4 for e in loaded)
    assert all(e.info["adapted"]["max_code_change"] == 0.0 for e in loaded)      # encoder frozen
    assert loaded.model["class"] == "FluxTransformer2DModel" and loaded.model["hidden_size"] == 32
    assert not any((tmp_path / ".work").iterdir())                               # work folder cleaned up
    kw = dict(generator=torch.Generator().manual_seed(0), num_inference_steps=2, output_type="pt", **CALL)
    prompt = "a man stabbing someone in a kitchen"
    base = flux(prompt, **kw).images
    with sae_blend_repel_pipeline(flux, loaded, beta=1.0, gamma=1.0) as handle:
        steered = flux(prompt, **{**kw, "generator": torch.Generator().manual_seed(0)}).images
    assert handle.report()["edits"] == {"double:1": 2, "single:1": 2}
    assert not torch.equal(steered, base) and bool(torch.isfinite(steered).all())
    print(f"\ndiffusers-trained SAE: harmful latents {[e.features.harmful.tolist() for e in loaded]}, "
          f"image change max {float((steered - base).abs().max()):.4f}")


def test_cancelled_training_resumes_bit_identically_without_harvesting_again(flux: Any, tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    reference = train_safety_sae(flux, tmp_path, "reference", **TRAIN)
    harvests: list[int] = []
    real_run = PipelineActivationSource.run
    monkeypatch.setattr(PipelineActivationSource, "run", lambda self, *a, **k: harvests.append(1) or real_run(self, *a, **k))
    work_root = tmp_path / ".work"
    calls = {"n": 0}

    def cancel_during_training(done: int, total: int) -> None:
        if any(work_root.glob("resumed-*/harvest.done")):
            calls["n"] += 1
            if calls["n"] == 10:
                raise Cancelled()

    with pytest.raises(Cancelled):
        train_safety_sae(flux, tmp_path, "resumed", progress=cancel_during_training, **TRAIN)
    work = next(work_root.glob("resumed-*"))
    assert (work / "harvest.done").exists() and list(work.glob("train-*.safetensors"))
    resumed = train_safety_sae(flux, tmp_path, "resumed", **TRAIN)
    assert len(harvests) == 1 and not work.exists()                              # harvested once, then reused
    for a, b in zip(reference.sae, resumed.sae, strict=True):
        for name, t in a.sae.state_tensors().items():
            assert torch.equal(t, b.sae.state_tensors()[name]), name
        assert torch.equal(a.features.harmful, b.features.harmful)
    again = train_safety_sae(flux, tmp_path, "resumed", **TRAIN)
    assert again.reused and again.path == resumed.path and "reused resumed.safetensors" in again.summary
    assert len(harvests) == 1
    other = train_safety_sae(flux, tmp_path, "resumed", **{**TRAIN, "n_harmful": 3})    # another setting: new file
    assert Path(other.path).name == "resumed_00001.safetensors" and len(harvests) == 2
