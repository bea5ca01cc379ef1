"""Wan 2.2's two experts in a diffusers pipeline: ``transformer`` runs the high-noise steps and
``transformer_2`` (other weights) the steps below ``boundary_ratio``. Steering and the monitor hook both,
each through its own text projection; a Safety SAE, which belongs to one model, names its expert.

References: the tiny pipeline's block outputs recorded with plain torch forward hooks, unsteered vs
steered, against the closed-form shift (hidden space: ``strength * scale * v``; conditioning space:
``mean_t f2(c + s) - f2(c)`` with ``f2`` the low-noise expert's own text projection called directly).
"""

from __future__ import annotations

from typing import Any

import pytest
import torch

from steering_core import SafeSteerError, SafetyDirection
from steering_core.diffusers import monitor_pipeline, pipeline_experts, sae_blend_repel_pipeline, steer_pipeline
from steering_core.diffusers.tiny import tiny_wan_pipeline

pytestmark = [pytest.mark.usefixtures("one_torch_thread"), pytest.mark.host_independent]

HIDDEN, CONTEXT = 24, 32
#: 4 steps with shift 7: timesteps 1000, 934, 781, 47; boundary 500, so only the last runs on transformer_2.
#: A window from 0.6 (t <= 400) holds that last step alone.
CALL = dict(prompt="a cat", negative_prompt="", height=16, width=16, num_frames=5, num_inference_steps=4,
            guidance_scale=2.0, max_sequence_length=16, output_type="pt")


@pytest.fixture(scope="module")
def pipe() -> Any:
    return tiny_wan_pipeline(two_experts=True)


def _run(pipe: Any) -> tuple[torch.Tensor, list[dict[str, torch.Tensor]]]:
    """Frames, and per call of the low-noise expert: its context and block 1's output."""
    calls: list[dict[str, torch.Tensor]] = []
    expert = pipe.transformer_2

    def before(_m: torch.nn.Module, args: tuple, kwargs: dict) -> None:
        calls.append({"context": kwargs["encoder_hidden_states"].detach().clone()})

    def after(_m: torch.nn.Module, _args: tuple, out: torch.Tensor) -> None:
        calls[-1]["block1"] = out.detach().clone()

    handles = [expert.register_forward_pre_hook(before, with_kwargs=True), expert.blocks[1].register_forward_hook(after)]
    try:
        frames = pipe(**CALL, generator=torch.Generator().manual_seed(0)).frames
    finally:
        for h in handles:
            h.remove()
    return frames, calls


def test_the_tiny_pipeline_has_two_experts_and_the_last_step_runs_on_the_second(pipe: Any) -> None:
    assert pipeline_experts(pipe) == ["transformer", "transformer_2"]
    _, calls = _run(pipe)
    assert len(calls) == 2        # one step, cond and uncond as separate calls


def test_steering_reaches_the_low_noise_expert_with_the_closed_form_shift(pipe: Any) -> None:
    v = torch.randn(1, HIDDEN, generator=torch.Generator().manual_seed(3))
    direction = SafetyDirection(vectors=v / v.norm(), categories=("global",), scale=torch.tensor([2.0]))
    frames0, plain = _run(pipe)
    handle = steer_pipeline(pipe, direction, strength=1.5, mode="add", sites="double:1", stream="img",
                            start_percent=0.6, space="hidden")
    try:
        frames1, steered = _run(pipe)
        report = handle.report()
    finally:
        handle.remove()
    assert report["edits"] == {"double:1": 0, "transformer_2/double:1": 2}     # the last step: its cond and uncond calls
    expected = (1.5 * 2.0 * v / v.norm()).reshape(1, 1, HIDDEN)
    cond, uncond = steered[0], steered[1]
    torch.testing.assert_close(cond["block1"] - plain[0]["block1"], expected.expand_as(cond["block1"]),
                               atol=2e-5, rtol=0)
    assert torch.equal(uncond["block1"], plain[1]["block1"])                 # cond_only: the uncond call untouched
    assert not torch.equal(frames1, frames0)
    assert torch.equal(_run(pipe)[0], frames0)                               # remove() restores both experts


def test_a_conditioning_direction_goes_through_each_experts_own_projection(pipe: Any) -> None:
    u = torch.randn(1, CONTEXT, generator=torch.Generator().manual_seed(4))
    direction = SafetyDirection(vectors=u / u.norm(), categories=("global",), scale=torch.tensor([3.0]))
    _, plain = _run(pipe)
    handle = steer_pipeline(pipe, direction, strength=1.0, mode="add", sites="double:1", stream="img", start_percent=0.6)
    try:
        _, steered = _run(pipe)
    finally:
        handle.remove()
    step = (3.0 * u / u.norm()).reshape(1, 1, CONTEXT)
    context = plain[0]["context"]
    with torch.no_grad():
        own = pipe.transformer_2.condition_embedder.text_embedder
        other = pipe.transformer.condition_embedder.text_embedder
        expected = (own(context + step) - own(context)).mean(dim=1, keepdim=True)     # [1, 1, H]
        wrong = (other(context + step) - other(context)).mean(dim=1, keepdim=True)
    assert (expected - wrong).norm() > 0.1 * expected.norm()                  # the two projections differ
    delta = steered[0]["block1"] - plain[0]["block1"]
    torch.testing.assert_close(delta, expected.expand_as(delta), atol=2e-5, rtol=0)


def test_the_monitor_logs_every_step_from_the_expert_that_ran_it(pipe: Any) -> None:
    v = torch.randn(1, HIDDEN, generator=torch.Generator().manual_seed(5))
    direction = SafetyDirection(vectors=v / v.norm(), categories=("global",), scale=torch.tensor([1.0]))
    handle = monitor_pipeline(pipe, direction, sites="double:1", stream="img")
    try:
        _, plain = _run(pipe)
        report = handle.report()
    finally:
        handle.remove()
    assert report["edits"] == {"double:1": 6, "transformer_2/double:1": 2}    # 3 steps + 1 step, cond and uncond
    scores = handle.log.last_run()
    assert sorted((s.step, s.branch) for s in scores) == [(i, b) for i in range(4) for b in ("cond", "uncond")]
    # the last step's scores are block 1's mean projection in the low-noise expert
    unit = (v / v.norm()).reshape(-1).to(torch.float64)
    for branch, call in (("cond", plain[0]), ("uncond", plain[1])):
        expected = float((call["block1"].to(torch.float64).mean(dim=1) @ unit).mean())
        got = next(s.score for s in scores if s.step == 3 and s.branch == branch)
        assert got == pytest.approx(expected, abs=1e-6)


def test_a_safety_sae_must_name_its_expert(pipe: Any) -> None:
    from steering_core.diffusers import train_safety_sae

    with pytest.raises(SafeSteerError, match=r"two transformers.*expert='transformer_2'"):
        sae_blend_repel_pipeline(pipe, _any_sae(), beta=0.5, gamma=1.0)
    with pytest.raises(SafeSteerError, match=r"two transformers"):
        train_safety_sae(pipe, "/nonexistent-never-written", pairs_per_category=2)
    with pytest.raises(SafeSteerError, match=r"expert 'transformer_3' is not a transformer.*transformer, transformer_2"):
        sae_blend_repel_pipeline(pipe, _any_sae(), expert="transformer_3")


def _any_sae() -> Any:
    from steering_core.sae.safety_sae import SafetySAE, SiteSAE
    from steering_core.sae.autoencoder import SafetyFeatures, SparseAutoencoder

    sae = SparseAutoencoder(HIDDEN, 4 * HIDDEN, k=4, seed=3)
    features = SafetyFeatures(harmful=torch.arange(6), harmful_effect=torch.ones(6), fast_threshold=torch.zeros(6),
                              safe=torch.arange(6, 9), safe_profile=torch.full((3,), 0.5), harm_scale=1.0)
    return SafetySAE([SiteSAE("double:1", "img", sae, features)], model={"class": "WanTransformer3DModel"})
