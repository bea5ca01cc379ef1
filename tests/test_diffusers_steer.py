"""steering_core.diffusers on tiny random diffusers pipelines built with diffusers' own classes (CPU).

References are independent: the closed-form mapped shift ``a * scale * W v`` from the transformer's
``context_embedder`` weight (numpy), block outputs recorded by plain torch forward hooks, and images
compared bit for bit with an unsteered run.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from steering_core import SafetyDirection
from steering_core.errors import DimensionMismatchError, SafeSteerError
from steering_core.diffusers import monitor_pipeline, steer_pipeline
from steering_core.diffusers.tiny import tiny_flux_pipeline, tiny_sd3_pipeline

pytestmark = pytest.mark.host_independent

STEPS = 4


@pytest.fixture(scope="module")
def flux() -> Any:
    return tiny_flux_pipeline(num_layers=2, num_single_layers=2)


def _run(pipe: Any, prompt: str = "a red apple on a table", steps: int = STEPS, **extra: Any) -> torch.Tensor:
    kw = dict(prompt=prompt, height=16, width=16, num_inference_steps=steps, max_sequence_length=24, output_type="pt",
              generator=torch.Generator().manual_seed(0))
    kw.update(extra)
    return pipe(**kw).images


def _direction(dim: int = 48, scale: float = 2.0, seed: int = 1, thresholds: float | None = None) -> SafetyDirection:
    g = torch.Generator().manual_seed(seed)
    v = torch.randn(1, dim, generator=g)
    return SafetyDirection(vectors=v / v.norm(), categories=("global",), scale=torch.tensor([scale]),
                           thresholds=None if thresholds is None else torch.tensor([thresholds]))


class Recorder:
    """Plain torch forward hooks: every block's output per transformer call (outside SafeSteer's hooks)."""

    def __init__(self, pipe: Any):
        tr = pipe.transformer
        self.blocks = {f"double:{i}": b for i, b in enumerate(tr.transformer_blocks)}
        self.blocks.update({f"single:{i}": b for i, b in enumerate(getattr(tr, "single_transformer_blocks", []))})
        self.calls: list[dict[str, Any]] = []
        self.handles = [tr.register_forward_pre_hook(lambda *_: self.calls.append({}))]
        for name, block in self.blocks.items():
            self.handles.append(block.register_forward_hook(self._hook(name)))

    def _hook(self, name: str) -> Any:
        def hook(_m: Any, _i: Any, out: Any) -> None:
            self.calls[-1][name] = tuple(o.detach().clone() if isinstance(o, torch.Tensor) else o
                                         for o in (out if isinstance(out, tuple) else (out,)))
        return hook

    def close(self) -> None:
        for h in self.handles:
            h.remove()


def _record(pipe: Any, **extra: Any) -> tuple[torch.Tensor, list[dict[str, Any]]]:
    rec = Recorder(pipe)
    try:
        image = _run(pipe, **extra)
    finally:
        rec.close()
    return image, rec.calls


def _mapped_shift(pipe: Any, direction: SafetyDirection, strength: float) -> np.ndarray:
    """Closed form for a linear text projection: a * scale * W v (bias cancels)."""
    w = pipe.transformer.context_embedder.weight.detach().double().numpy()             # [H, C]
    v = direction.vectors[0].double().numpy()
    return strength * float(direction.scale[0]) * (w @ v)


def test_strength_zero_and_remove_are_bit_identical(flux: Any) -> None:
    base = _run(flux)
    state = {k: v.clone() for k, v in flux.transformer.state_dict().items()}
    handle = steer_pipeline(flux, _direction(), strength=0.0, mode="add")
    assert torch.equal(_run(flux), base)
    handle.set_strength(1.5)
    steered = _run(flux)
    assert not torch.equal(steered, base)
    handle.remove()
    assert torch.equal(_run(flux), base)
    blocks = list(flux.transformer.transformer_blocks) + list(flux.transformer.single_transformer_blocks)
    assert all("forward" not in b.__dict__ and not hasattr(b, "_diffusers_hook") for b in blocks)
    assert all(torch.equal(v, state[k]) for k, v in flux.transformer.state_dict().items())


@pytest.mark.parametrize("site", ["double:1", "single:0"])
def test_hooked_site_moves_by_the_closed_form_mapped_shift(flux: Any, site: str) -> None:
    direction, strength = _direction(), 1.7
    _, base = _record(flux)
    with steer_pipeline(flux, direction, strength=strength, mode="add", sites=site, stream="both"):
        _, steered = _record(flux)
    expected = _mapped_shift(flux, direction, strength)
    unit = expected / np.linalg.norm(expected)
    for out_b, out_s in zip(base[0][site], steered[0][site]):                   # step 0: the block's input is unchanged
        diff = (out_s - out_b).double().numpy()                                  # [B, T, H], txt and img streams
        np.testing.assert_allclose(diff, np.broadcast_to(expected, diff.shape), atol=2e-5)
        moved = (out_s.double().numpy() @ unit).mean() - (out_b.double().numpy() @ unit).mean()
        assert moved == pytest.approx(np.linalg.norm(expected), rel=1e-4)
    print(f"\n{site}: projection moved by {moved:.5f}, closed form |a s W v| = {np.linalg.norm(expected):.5f}")


def test_sites_outside_the_list_and_steps_outside_the_window_are_untouched(flux: Any) -> None:
    base_img, base = _record(flux)
    handle = steer_pipeline(flux, _direction(), strength=2.0, mode="add", sites="double:1, single:1",
                            start_percent=0.5, end_percent=1.0)
    img, steered = _record(flux)
    handle.remove()
    timesteps = flux.scheduler.timesteps.tolist()                                # [1000, 750, 500, 250]
    inside = [t <= 500 + 1e-3 for t in timesteps]
    assert inside == [False, False, True, True]
    for step, (b, s) in enumerate(zip(base, steered)):
        for name in b:
            same = all(torch.equal(x, y) for x, y in zip(b[name], s[name]) if isinstance(x, torch.Tensor))
            if not inside[step]:
                assert same, f"{name} changed at step {step}, outside the window"
            elif step == 2 and name in ("double:0",):
                assert same, f"{name} is not in the site list but changed"
            elif step == 2 and name in ("double:1", "single:1"):
                assert not same, f"{name} was not steered inside the window"
    assert not torch.equal(img, base_img)
    assert handle.report()["edits"] == {"double:1": 2, "single:1": 2}


def test_uncond_branch_untouched_when_branches_run_separately(flux: Any) -> None:
    """Flux true CFG runs cond then uncond, each under transformer.cache_context("cond"/"uncond"); one step,
    so both calls read the same latents and any change in the uncond call would be SafeSteer's."""
    extra = dict(negative_prompt="blurry", true_cfg_scale=2.0, steps=1)
    _, base = _record(flux, **extra)
    with steer_pipeline(flux, _direction(), strength=2.0, mode="add", cond_only=True):
        _, steered = _record(flux, **extra)
    assert len(base) == len(steered) == 2                                        # (cond, uncond)
    for i, (b, s) in enumerate(zip(base, steered)):
        same = all(torch.equal(x, y) for name in b for x, y in zip(b[name], s[name]) if isinstance(x, torch.Tensor))
        assert same == (i % 2 == 1), f"call {i} ({'uncond' if i % 2 else 'cond'})"


def test_two_handles_stack(flux: Any) -> None:
    direction = _direction()
    _, base = _record(flux)
    h1 = steer_pipeline(flux, direction, strength=1.0, mode="add", sites="double:1")
    h2 = steer_pipeline(flux, direction, strength=2.0, mode="add", sites="double:1")
    _, both = _record(flux)
    h1.remove()
    _, only2 = _record(flux)
    h2.remove()
    expected = _mapped_shift(flux, direction, 3.0)
    diff = (both[0]["double:1"][1] - base[0]["double:1"][1]).double().numpy()
    np.testing.assert_allclose(diff, np.broadcast_to(expected, diff.shape), atol=2e-5)
    diff2 = (only2[0]["double:1"][1] - base[0]["double:1"][1]).double().numpy()
    np.testing.assert_allclose(diff2, np.broadcast_to(_mapped_shift(flux, direction, 2.0), diff2.shape), atol=2e-5)


def test_gates_decide_per_prompt(flux: Any) -> None:
    base = _run(flux, steps=2)
    with steer_pipeline(flux, _direction(thresholds=float("-inf")), strength=2.0, mode="gated") as shut:
        assert torch.equal(_run(flux, steps=2), base)                           # no gate opens: untouched, no error
    report = shut.report()                                                      # ... and the report says so
    assert set(report["changed"].values()) == {0} and set(report["edits"].values()) == {2}
    assert f"ran {2 * len(report['edits'])} times and no token needed a change (no gate opened" in report["note"]
    with steer_pipeline(flux, _direction(thresholds=float("inf")), strength=2.0, mode="gated") as opened:
        gated = _run(flux, steps=2)
    report = opened.report()
    assert report["changed"] == report["edits"] and set(report["edits"].values()) == {2} and "note" not in report
    with steer_pipeline(flux, _direction(), strength=2.0, mode="add"):
        added = _run(flux, steps=2)
    assert torch.equal(gated, added) and not torch.equal(gated, base)


def test_wrong_size_direction_and_unsupported_transformer_are_clear_errors(flux: Any) -> None:
    with pytest.raises(DimensionMismatchError, match=r"size 17.*conditioning has size 48"):
        steer_pipeline(flux, _direction(dim=17), mode="add")

    class Pipe:
        transformer = torch.nn.Linear(2, 2)
        scheduler = object()

    with pytest.raises(SafeSteerError, match=r"cannot steer inside Linear.*FluxTransformer2DModel.*WanTransformer3DModel"):
        steer_pipeline(Pipe(), _direction(), mode="add")
    blocks = list(flux.transformer.transformer_blocks)
    assert all(not hasattr(b, "_diffusers_hook") for b in blocks)


def test_monitor_scores_match_a_hand_projection(flux: Any) -> None:
    direction = _direction()
    handle = monitor_pipeline(flux, direction, sites="double:0", stream="img")
    _, calls = _record(flux, steps=2)
    handle.remove()
    unit = _mapped_shift(flux, direction, 1.0)
    unit /= np.linalg.norm(unit)
    steps, scores = handle.log.curve("cond")
    assert steps == [0, 1]
    for step in steps:
        img = calls[step]["double:0"][1].double().numpy()                      # (txt, img): image tokens
        assert scores[step] == pytest.approx(float((img.mean(axis=1) @ unit).mean()), rel=1e-6, abs=1e-9)


def test_sd3_batched_cfg_leaves_the_uncond_half_alone_and_skipped_blocks_raise() -> None:
    pipe = tiny_sd3_pipeline(num_layers=3)
    extra = dict(guidance_scale=3.0, steps=2)
    _, base = _record(pipe, **extra)
    with steer_pipeline(pipe, _direction(), strength=2.0, mode="add", sites="double:1", stream="img"):
        _, steered = _record(pipe, **extra)
    b, s = base[0]["double:1"][1], steered[0]["double:1"][1]                  # SD3 blocks return (txt, img)
    assert b.shape[0] == 2                                                      # cat([negative, positive])
    assert torch.equal(b[0], s[0]) and not torch.equal(b[1], s[1])
    expected = _mapped_shift(pipe, _direction(), 2.0)
    np.testing.assert_allclose((s[1] - b[1]).double().numpy(), np.broadcast_to(expected, b[1].shape), atol=2e-5)
    # a transformer call that skips a steered block is reported, never silently ignored
    pipe.scheduler.set_timesteps(2)
    tr = pipe.transformer
    with steer_pipeline(pipe, _direction(), strength=1.0, mode="add", sites="double:1"):
        with pytest.raises(SafeSteerError, match="double:1"):
            tr(hidden_states=torch.randn(1, 4, 8, 8), encoder_hidden_states=torch.randn(1, 5, 48),
               pooled_projections=torch.randn(1, 64), timestep=pipe.scheduler.timesteps[:1], skip_layers=[1])
