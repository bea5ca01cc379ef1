"""DiT Safety Steer on tiny random-weight ComfyUI models, sampled by ComfyUI's own KSampler code.

Block outputs are observed by two recording patches of the kind another pack would install: one
put on the blocks *before* SafeSteer (so SafeSteer must wrap it) and one put *after* (wrapping
SafeSteer). The difference between what they see is exactly SafeSteer's edit, compared with a
closed-form reference computed here from the model's own weights in float64.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

import pytest
import torch

from steering_core import SafetyDirection

STEPS = 4


def dit_node(host):
    return host.node_class_mappings["SafeSteerDiTSteer"]


def pack_module(host, name: str):
    package = dit_node(host).__module__.rsplit(".", 1)[0]
    return sys.modules[f"{package}.{name}"]


def steer(host, model, direction, strength=1.0, mode="add", sites="all", stream="both", start=0.0, end=1.0,
          cond_only=True, space="auto"):
    return dit_node(host).execute(model, direction, strength, mode, sites, stream, start, end, cond_only, space).result[0]


@dataclass
class Record:
    """One block call seen by a recorder: outputs per stream, batch layout and sigma."""

    site: tuple[str, int]
    out: dict[str, torch.Tensor]
    cond_or_uncond: list[int]
    sigma: float


@dataclass
class Recorder:
    """A ``patches_replace["dit"]`` callable recording block outputs; wraps whatever was there."""

    site: tuple[str, int]
    log: list[Record]
    previous: Any = None

    def __deepcopy__(self, memo: dict[int, Any]) -> "Recorder":
        return self  # ModelPatcher.clone() deep-copies model_options; keep recording into the same log

    def __call__(self, args: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
        out = self.previous(args, extra) if self.previous is not None else extra["original_block"](args)
        opts = args.get("transformer_options", {})
        self.log.append(Record(self.site, {k: v.detach().clone() for k, v in out.items() if isinstance(v, torch.Tensor)},
                               list(opts.get("cond_or_uncond", [])), float(opts["sigmas"].reshape(-1)[0])))
        return out


def add_recorders(model, sites: list[tuple[str, int]]):
    """A clone of ``model`` with a recorder on each site (wrapping any existing patch); returns (clone, log)."""
    m = model.clone()
    log: list[Record] = []
    dit = m.model_options.get("transformer_options", {}).get("patches_replace", {}).get("dit", {})
    for kind, i in sites:
        m.set_model_patch_replace(Recorder((kind, i), log, dit.get((f"{kind}_block", i))), "dit", f"{kind}_block", i)
    return m, log


def all_sites(info) -> list[tuple[str, int]]:
    return [("double", i) for i in range(info.num_double)] + [("single", i) for i in range(info.num_single)]


def sample(host, tm, model, arch: str, cfg: float = 2.0, steps: int = STEPS, cond=None, neg=None):
    cond = cond if cond is not None else tm.make_conditioning(arch, seed=1)
    neg = neg if neg is not None else tm.make_conditioning(arch, seed=2)
    return host.nodes.common_ksampler(model, 0, steps, cfg, "euler", "simple", cond, neg, tm.make_latent(arch),
                                      denoise=1.0)[0]["samples"]


def observe(host, tm, model, arch: str, steered_fn, **sample_kw):
    """Run sampling with recorders inside and outside SafeSteer; return (inner log, outer log, info)."""
    info = pack_module(host, "dit_adapter").inspect_model(model)
    sites = all_sites(info)
    inner_model, inner = add_recorders(model, sites)
    outer_model, outer = add_recorders(steered_fn(inner_model), sites)
    sample(host, tm, outer_model, arch, **sample_kw)
    assert len(inner) == len(outer) > 0
    return inner, outer, info


def conditioning_direction(dim: int, seed: int = 0, scale: float = 2.0, k: int = 1) -> SafetyDirection:
    g = torch.Generator().manual_seed(seed)
    vectors = torch.randn(k, dim, generator=g)
    vectors = vectors / vectors.norm(dim=1, keepdim=True) * scale
    return SafetyDirection.from_vectors(vectors, ["global"] if k == 1 else [f"c{i}" for i in range(k)])


def linear_shift(layer: torch.nn.Linear, direction: SafetyDirection) -> torch.Tensor:
    """Reference hidden shift per unit strength: W (scale * v), float64."""
    w = layer.weight.detach().to(torch.float64)
    return (direction.vectors.to(torch.float64) * direction.scale.to(torch.float64).unsqueeze(1)) @ w.T


def cond_rows(rec: Record, batch: int) -> torch.Tensor:
    per = batch // len(rec.cond_or_uncond)
    return torch.tensor([c == 0 for c in rec.cond_or_uncond]).repeat_interleave(per)


# ------------------------------------------------------------------------------ strength 0, leaks


@pytest.mark.parametrize("arch", ["flux", "sd3", "wan21", "qwen_image", "chroma", "ltxv", "lumina2"])
def test_strength_zero_is_bit_identical_and_input_model_is_untouched(host, tm, arch):
    model = tm.build_model(arch, seed=0)
    options_before = repr(model.model_options)
    baseline = sample(host, tm, model, arch)
    direction = conditioning_direction(tm.arch(arch).context_dim)
    zero = sample(host, tm, steer(host, model, direction, strength=0.0), arch)
    assert torch.equal(zero, baseline)
    steered = sample(host, tm, steer(host, model, direction, strength=2.0), arch)
    assert not torch.equal(steered, baseline)
    assert torch.isfinite(steered).all()
    # nothing leaked into the input MODEL or the shared module: a later plain run is bit-exact
    assert repr(model.model_options) == options_before
    assert torch.equal(sample(host, tm, model, arch), baseline)


# ------------------------------------------------------------------------------ projections per site


def test_flux_add_moves_the_projection_by_the_mapped_shift_at_every_site(host, tm):
    model = tm.build_model("flux", seed=0)
    d = conditioning_direction(tm.arch("flux").context_dim, seed=3)
    strength = 1.5
    inner, outer, info = observe(host, tm, model, "flux",
                                 lambda m: steer(host, m, d, strength=strength, cond_only=True))
    u = strength * linear_shift(model.model.diffusion_model.txt_in, d)[0]      # [H] closed form
    e = u / u.norm()
    for a, b in zip(inner, outer):
        rows = cond_rows(a, next(iter(a.out.values())).shape[0])
        for stream, before in a.out.items():
            delta = (b.out[stream] - before).to(torch.float64)
            # the conditional rows move by exactly u at every token; unconditional rows not at all
            assert torch.equal(delta[~rows], torch.zeros_like(delta[~rows])), (a.site, stream)
            moved = delta[rows]
            torch.testing.assert_close(moved @ e, torch.full(moved.shape[:2], float(u.norm()), dtype=torch.float64),
                                       rtol=1e-4, atol=1e-4 * float(u.norm()))
            off = moved - (moved @ e).unsqueeze(-1) * e
            assert float(off.abs().max()) < 1e-4 * float(u.norm()) + 1e-5


def test_flux_single_blocks_split_text_and_image_tokens(host, tm):
    model = tm.build_model("flux", seed=0)
    d = conditioning_direction(tm.arch("flux").context_dim, seed=4)
    cond = tm.make_conditioning("flux", seed=1, tokens=9)
    inner, outer, info = observe(host, tm, model, "flux", lambda m: steer(host, m, d, stream="img", sites="single"),
                                 cond=cond, neg=tm.make_conditioning("flux", seed=2, tokens=9))
    singles = [(a, b) for a, b in zip(inner, outer) if a.site[0] == "single"]
    doubles = [(a, b) for a, b in zip(inner, outer) if a.site[0] == "double"]
    assert singles and doubles
    for a, b in doubles:  # not in the site list: untouched
        for stream in a.out:
            assert torch.equal(a.out[stream], b.out[stream])
    for a, b in singles:
        delta = b.out["img"] - a.out["img"]
        rows = cond_rows(a, delta.shape[0])
        assert torch.equal(delta[:, :9], torch.zeros_like(delta[:, :9]))      # text tokens come first in Flux
        assert bool((delta[rows, 9:].abs().amax(dim=-1) > 0).all())           # every image token moved


def test_only_listed_sites_and_steps_inside_the_sigma_window_change(host, tm):
    model = tm.build_model("flux", seed=0)
    d = conditioning_direction(tm.arch("flux").context_dim, seed=5)
    sampling = model.get_model_object("model_sampling")
    start, end = 0.0, 0.5
    sigma_end = float(sampling.percent_to_sigma(end))
    inner, outer, _ = observe(host, tm, model, "flux",
                              lambda m: steer(host, m, d, sites="double:1, single:0", start=start, end=end,
                                              cond_only=False))
    seen_in, seen_out = 0, 0
    for a, b in zip(inner, outer):
        changed = any(not torch.equal(a.out[s], b.out[s]) for s in a.out)
        expected = a.site in (("double", 1), ("single", 0)) and a.sigma >= sigma_end
        assert changed == expected, (a.site, a.sigma)
        seen_in += expected
        seen_out += a.site in (("double", 1), ("single", 0)) and not expected
    assert seen_in and seen_out  # both cases actually occurred


def test_wan_nonlinear_text_projection_uses_the_finite_difference_at_the_conditioning(host, tm):
    model = tm.build_model("wan21", seed=0)
    d = conditioning_direction(tm.arch("wan21").context_dim, seed=6)
    cond = tm.make_conditioning("wan21", seed=1)
    inner, outer, _ = observe(host, tm, model, "wan21", lambda m: steer(host, m, d, stream="img", strength=1.0),
                              cond=cond)
    emb = model.model.diffusion_model.text_embedding
    c = cond[0][0]
    with torch.no_grad():
        step = (d.vectors[0] * d.scale[0]).view(1, 1, -1)
        u = (emb(c + step) - emb(c)).mean(dim=1)[0].to(torch.float64)             # [H]
    for a, b in zip(inner, outer):
        delta = (b.out["img"] - a.out["img"]).to(torch.float64)
        rows = cond_rows(a, delta.shape[0])
        assert torch.equal(delta[~rows], torch.zeros_like(delta[~rows]))
        torch.testing.assert_close(delta[rows], u.expand_as(delta[rows]), rtol=1e-4, atol=1e-4)


def test_sd3_project_out_lifts_negative_components_to_zero(host, tm):
    model = tm.build_model("sd3", seed=0)
    d = conditioning_direction(tm.arch("sd3").context_dim, seed=7)
    inner, outer, _ = observe(host, tm, model, "sd3",
                              lambda m: steer(host, m, d, mode="project_out", strength=1.0, cond_only=False))
    u = linear_shift(model.model.diffusion_model.context_embedder, d)[0]
    e = (u / u.norm()).to(torch.float32)
    for a, b in zip(inner, outer):
        for stream, before in a.out.items():
            s_before, s_after = before @ e, b.out[stream] @ e
            neg = s_before < 0
            torch.testing.assert_close(s_after[neg], torch.zeros_like(s_after[neg]), atol=2e-4, rtol=0)
            assert torch.equal(b.out[stream][~neg], before[~neg])                    # other tokens bit-identical


def test_gated_mode_steers_only_prompts_whose_gate_opens(host, tm):
    model = tm.build_model("flux", seed=0)
    ctx = tm.arch("flux").context_dim
    d = conditioning_direction(ctx, seed=8)
    unsafe = tm.make_conditioning("flux", seed=1)
    benign = tm.make_conditioning("flux", seed=2)
    v = d.vectors[0]
    unsafe[0][0] = unsafe[0][0] - 3.0 * v                     # far on the unsafe side of the direction
    benign[0][0] = benign[0][0] + 3.0 * v
    s_unsafe = float(unsafe[0][0].mean(dim=1)[0] @ v)
    s_benign = float(benign[0][0].mean(dim=1)[0] @ v)
    assert s_unsafe < s_benign
    gated = SafetyDirection.from_vectors(d.scaled_vectors, d.categories,
                                         thresholds=torch.tensor([(s_unsafe + s_benign) / 2]))
    # positive = unsafe prompt (gate opens), negative = benign prompt (gate stays shut), both branches allowed
    inner, outer, _ = observe(host, tm, model, "flux",
                              lambda m: steer(host, m, gated, mode="gated", cond_only=False),
                              cond=unsafe, neg=benign)
    for a, b in zip(inner, outer):
        rows = cond_rows(a, next(iter(a.out.values())).shape[0])
        for stream in a.out:
            delta = b.out[stream] - a.out[stream]
            assert bool((delta[rows].abs().amax(dim=-1) > 0).all())
            assert torch.equal(delta[~rows], torch.zeros_like(delta[~rows]))


def test_two_steering_nodes_stack_and_wrap_a_foreign_patch(host, tm):
    model = tm.build_model("flux", seed=0)
    ctx = tm.arch("flux").context_dim
    d1, d2 = conditioning_direction(ctx, seed=9), conditioning_direction(ctx, seed=10)
    inner, outer, _ = observe(host, tm, model, "flux",
                              lambda m: steer(host, steer(host, m, d1, strength=1.0), d2, strength=0.5))
    w = model.model.diffusion_model.txt_in
    u = linear_shift(w, d1)[0] + 0.5 * linear_shift(w, d2)[0]
    for a, b in zip(inner, outer):
        rows = cond_rows(a, next(iter(a.out.values())).shape[0])
        for stream in a.out:
            delta = (b.out[stream] - a.out[stream]).to(torch.float64)[rows]
            torch.testing.assert_close(delta, u.expand_as(delta), rtol=1e-4, atol=1e-4)
    # the foreign (inner) recorder still ran once per block call: it was wrapped, not replaced
    assert len(inner) == len(outer)


def test_hidden_space_direction_on_hook_families(host, tm):
    for arch in ("hidream", "hunyuan_video"):
        model = tm.build_model(arch, seed=0)
        info = pack_module(host, "dit_adapter").inspect_model(model)
        d = conditioning_direction(info.hidden_size, seed=11, scale=3.0)
        base = sample(host, tm, model, arch)
        steered = sample(host, tm, steer(host, model, d, strength=1.0), arch)
        assert not torch.equal(base, steered) and torch.isfinite(steered).all()
        assert torch.equal(sample(host, tm, model, arch), base)
        with pytest.raises(ValueError, match="CONDITIONING"):
            steer(host, model, conditioning_direction(tm.arch(arch).context_dim + 1), space="conditioning")


def test_wrong_dimension_and_unknown_sites_fail_with_clear_messages(host, tm):
    model = tm.build_model("flux", seed=0)
    with pytest.raises(ValueError, match="size 77.*conditioning has size 64.*hidden size is 128"):
        steer(host, model, conditioning_direction(77))
    with pytest.raises(ValueError, match="2 single blocks"):
        steer(host, model, conditioning_direction(64), sites="single:5")
    with pytest.raises(ValueError, match="cannot steer inside Linear.*Flux"):
        fake = model.clone()
        fake.model = type("M", (), {"diffusion_model": torch.nn.Linear(2, 2)})()
        steer(host, fake, conditioning_direction(64))
