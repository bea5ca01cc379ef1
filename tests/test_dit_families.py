"""Which DiT classes SafeSteer steers or refuses on the live host, and that it never quietly does nothing.

* Every DiT class of ComfyUI's ``comfy/ldm`` (0.3.75 and 0.33) is listed in ``CATALOGUE`` with the
  verdict this file holds SafeSteer to: steered (a tiny-model test below or in test_dit_host.py shows
  it), or refused with an error naming the class. Classes a host lacks are checked by capability:
  the classes newer releases add must be all present or all absent, so a family that silently
  disappears from a host that has the others fails.
* LTX-2 AV (``LTXAVModel``, where the host has it): the same closed-form checks as test_dit_host.py
  on the video tokens of the ``(video, audio)`` block payload; the audio tokens stay bit-identical.
* 0.33's Wan variants whose block ``img`` also carries reference / pose tokens (SCAIL, SCAIL-2, Animate 2,
  WanDancer): the video tokens move by the closed-form shift, the tokens before and after them (counted by
  hand from the tiny model's latents) stay bit-identical. Z-Image pixel space steers like NextDiT. Kandinsky 5
  stays refused: the test shows the host's own block patch path failing.
* No silent no-ops, per family: a model whose forward never reaches the patched blocks, or whose
  block payload is not the expected token tensor, makes sampling raise ``SafeSteerError``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

import pytest
import torch

from steering_core import SafetyDirection
from steering_core.errors import SafeSteerError

from test_dit_host import (add_recorders, all_sites, cond_rows, conditioning_direction, linear_shift, pack_module,
                           sample, steer)
from test_sae_host import hand_made_bundle, blend_repel

STEERED, REFUSED = "steered", "refused"


@dataclass(frozen=True)
class Entry:
    module: str
    name: str
    verdict: str
    new: bool  # added after ComfyUI 0.3.75
    shown_by: str = ""  # the test that steers it


CATALOGUE = [
    Entry("comfy.ldm.flux.model", "Flux", STEERED, False, "test_dit_host.py (flux); Flux 2: test_dit_families.py"),
    Entry("comfy.ldm.chroma.model", "Chroma", STEERED, False, "test_dit_host.py (chroma)"),
    Entry("comfy.ldm.chroma_radiance.model", "ChromaRadiance", STEERED, False),
    Entry("comfy.ldm.hunyuan_video.model", "HunyuanVideo", STEERED, False, "test_dit_host.py (hunyuan_video)"),
    Entry("comfy.ldm.modules.diffusionmodules.mmdit", "OpenAISignatureMMDITWrapper", STEERED, False,
          "test_dit_host.py (sd3)"),
    Entry("comfy.ldm.wan.model", "WanModel", STEERED, False, "test_dit_host.py (wan21)"),
    Entry("comfy.ldm.wan.model", "VaceWanModel", STEERED, False),
    Entry("comfy.ldm.wan.model", "CameraWanModel", STEERED, False),
    Entry("comfy.ldm.wan.model", "HumoWanModel", STEERED, False),
    Entry("comfy.ldm.wan.model", "WanModel_S2V", STEERED, False),
    Entry("comfy.ldm.lightricks.model", "LTXVModel", STEERED, False, "test_dit_host.py (ltxv)"),
    Entry("comfy.ldm.qwen_image.model", "QwenImageTransformer2DModel", STEERED, False, "test_dit_host.py (qwen_image)"),
    Entry("comfy.ldm.lumina.model", "NextDiT", STEERED, False, "test_dit_host.py (lumina2)"),
    Entry("comfy.ldm.hidream.model", "HiDreamImageTransformer2DModel", STEERED, False, "test_dit_host.py (hidream)"),
    Entry("comfy.ldm.wan.model_animate", "AnimateWanModel", REFUSED, False),
    Entry("comfy.ldm.aura.mmdit", "MMDiT", REFUSED, False),
    Entry("comfy.ldm.lightricks.av_model", "LTXAVModel", STEERED, True, "test_dit_families.py (ltxav)"),
    Entry("comfy.ldm.wan.ar_model", "CausalWanModel", REFUSED, True),
    Entry("comfy.ldm.wan.model", "SCAILWanModel", STEERED, True, "test_dit_families.py (scail)"),
    Entry("comfy.ldm.wan.model", "SCAIL2WanModel", STEERED, True, "test_dit_families.py (scail2)"),
    Entry("comfy.ldm.wan.model_animate2", "WanAnimate2Model", STEERED, True, "test_dit_families.py (animate2)"),
    Entry("comfy.ldm.wan.model_wandancer", "WanDancerModel", STEERED, True, "test_dit_families.py (wandancer)"),
    Entry("comfy.ldm.lumina.model", "NextDiTPixelSpace", STEERED, True, "test_dit_families.py (zimage_pixel)"),
    Entry("comfy.ldm.kandinsky5.model", "Kandinsky5", REFUSED, True, "test_dit_families.py (kandinsky5: why)"),
    Entry("comfy.ldm.mage_flow.model", "MageFlowTransformer2DModel", REFUSED, True),
    # the other diffusion transformers of comfy/ldm (no SafeSteer adapter)
    Entry("comfy.ldm.lens.model", "LensTransformer2DModel", REFUSED, True),
    Entry("comfy.ldm.genmo.joint_model.asymm_models_joint", "AsymmDiTJoint", REFUSED, False),
    Entry("comfy.ldm.cosmos.model", "GeneralDIT", REFUSED, False),
    Entry("comfy.ldm.cosmos.predict2", "MiniTrainDIT", REFUSED, False),
    Entry("comfy.ldm.anima.model", "Anima", REFUSED, True),
    Entry("comfy.ldm.pixeldit.model", "PixDiT_T2I", REFUSED, True),
    Entry("comfy.ldm.pixeldit.pid", "PidNet", REFUSED, True),
    Entry("comfy.ldm.hydit.models", "HunYuanDiT", REFUSED, False),
    Entry("comfy.ldm.pixart.pixartms", "PixArtMS", REFUSED, False),
    Entry("comfy.ldm.seedvr.model", "NaDiT", REFUSED, True),
    Entry("comfy.ldm.hunyuan3d.model", "Hunyuan3Dv2", REFUSED, False),
    Entry("comfy.ldm.hunyuan3dv2_1.hunyuandit", "HunYuanDiTPlain", REFUSED, False),
    Entry("comfy.ldm.minimax.model", "MiniMaxH3Model", REFUSED, True),
    Entry("comfy.ldm.hidream_o1.model", "HiDreamO1Transformer", REFUSED, True),
    Entry("comfy.ldm.ace.model", "ACEStepTransformer2DModel", REFUSED, False),
    Entry("comfy.ldm.ace.ace_step15", "AceStepConditionGenerationModel", REFUSED, True),
    Entry("comfy.ldm.omnigen.omnigen2", "OmniGen2Transformer2DModel", REFUSED, False),
    Entry("comfy.ldm.boogu.model", "BooguTransformer2DModel", REFUSED, True),
    Entry("comfy.ldm.joyimage.model", "JoyImageTransformer3DModel", REFUSED, True),
    Entry("comfy.ldm.ideogram4.model", "Ideogram4Transformer2DModel", REFUSED, True),
    Entry("comfy.ldm.krea2.model", "SingleStreamDiT", REFUSED, True),
    Entry("comfy.ldm.ernie.model", "ErnieImageModel", REFUSED, True),
    Entry("comfy.ldm.cogvideo.model", "CogVideoXTransformer3DModel", REFUSED, True),
    Entry("comfy.ldm.audio.dit", "AudioDiffusionTransformer", REFUSED, False),
    Entry("comfy.ldm.triposplat.model", "LatentSeqMMFlowModel", REFUSED, True),
    Entry("comfy.ldm.trellis2.model", "Trellis2", REFUSED, True),
    Entry("comfy.ldm.minimax_music.dit", "MiniMaxMusic3DiT", REFUSED, True),
]


def host_class(entry: Entry) -> type | None:
    """The class on the live host, or None when the host lacks it (capability, not version)."""
    try:
        module = importlib.import_module(entry.module)
    except ModuleNotFoundError:
        return None
    return getattr(module, entry.name, None)


class _Shell:
    """A stand-in ModelPatcher holding an uninitialised instance of ``cls`` (only its class is read)."""

    def __init__(self, cls: type):
        self.model = type("Base", (), {"diffusion_model": cls.__new__(cls)})()


@pytest.mark.parametrize("entry", CATALOGUE, ids=lambda e: e.name)
def test_every_dit_class_is_steered_or_refused_by_name(host, entry):
    cls = host_class(entry)
    if cls is None:
        assert entry.new, f"{entry.module}.{entry.name} vanished from this host"
        return
    inspect_model = pack_module(host, "dit_adapter").inspect_model
    if entry.verdict == REFUSED:
        with pytest.raises(SafeSteerError, match=rf"cannot steer inside {entry.name}:.*Supported diffusion"):
            inspect_model(_Shell(cls))
    else:
        arch_for = importlib.import_module("steering_core.steering.architectures").arch_for
        assert arch_for([c.__name__ for c in cls.__mro__]).mechanism in ("replace", "hooks")


def test_newer_families_come_together(host):
    """The classes newer hosts add are all present (a 0.33 host) or all absent (0.3.75): none goes missing."""
    present = {e.name: host_class(e) is not None for e in CATALOGUE if e.new}
    assert len(set(present.values())) == 1, present


def test_an_unverified_subclass_of_a_supported_class_is_refused(host, tm):
    model = tm.build_model("wan21", seed=0)
    variant = model.clone()
    variant.model = _Shell(type("FancyWanModel", (type(model.model.diffusion_model),), {})).model
    with pytest.raises(SafeSteerError, match="FancyWanModel: it is a variant of WanModel"):
        steer(host, variant, conditioning_direction(tm.arch("wan21").context_dim))


# ------------------------------------------------------------------------------ LTX-2 AV


@dataclass
class AVRecord:
    site: tuple[str, int]
    video: torch.Tensor
    audio: torch.Tensor
    context: torch.Tensor
    cond_or_uncond: list[int]
    sigma: float


@dataclass
class AVRecorder:
    """A ``patches_replace["dit"]`` callable recording LTX-2 AV block outputs and the video context it reads."""

    site: tuple[str, int]
    log: list[AVRecord]
    previous: Any = None

    def __deepcopy__(self, memo: dict[int, Any]) -> "AVRecorder":
        return self

    def __call__(self, args: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
        out = self.previous(args, extra) if self.previous is not None else extra["original_block"](args)
        opts = args["transformer_options"]
        video, audio = out["img"]
        self.log.append(AVRecord(self.site, video.detach().clone(), audio.detach().clone(),
                                 args["v_context"].detach().clone(), list(opts["cond_or_uncond"]),
                                 float(opts["sigmas"].reshape(-1)[0])))
        return out


def av_recorders(model, n: int):
    m = model.clone()
    log: list[AVRecord] = []
    dit = m.model_options.get("transformer_options", {}).get("patches_replace", {}).get("dit", {})
    for i in range(n):
        m.set_model_patch_replace(AVRecorder(("double", i), log, dit.get(("double_block", i))), "dit", "double_block", i)
    return m, log


@pytest.fixture(scope="module")
def tf(comfy):
    import tiny_host_pack.tiny_families_033 as tiny_families

    return tiny_families


def tf_sample(host, tf, name: str, model, cfg: float = 2.0, steps: int = 3):
    out = host.nodes.common_ksampler(model, 0, steps, cfg, "euler", "simple", tf.make_conditioning(name, seed=1),
                                     tf.make_conditioning(name, seed=2), tf.make_latent(name), denoise=1.0)
    return out[0]["samples"]


def av_sample(host, tf, model, cfg: float = 2.0, steps: int = 3):
    return [t.clone() for t in tf_sample(host, tf, "ltxav", model, cfg, steps).unbind()]


def av_observe(host, tf, model, steered_fn):
    inner_model, inner = av_recorders(model, 2)
    outer_model, outer = av_recorders(steered_fn(inner_model), 2)
    av_sample(host, tf, outer_model)
    assert len(inner) == len(outer) > 0
    return inner, outer


def host_has_ltxav(tf) -> bool:
    has = "ltxav" in tf.available()
    # capability, both ways: the config class and the network class come together
    assert has == (host_class(CATALOGUE[[e.name for e in CATALOGUE].index("LTXAVModel")]) is not None)
    return has


def test_ltxav_steers_video_tokens_by_the_hidden_shift_and_leaves_audio_alone(host, tf):
    if not host_has_ltxav(tf):
        return  # this host has no LTX-2 AV (asserted above by capability)
    model = tf.build_model("ltxav", seed=0)
    info = pack_module(host, "dit_adapter").inspect_model(model)
    assert (info.class_name, info.hidden_size, info.num_double, info.project) == ("LTXAVModel", 64, 2, None)
    d = conditioning_direction(64, seed=3, scale=1.5)
    strength = 2.0
    inner, outer = av_observe(host, tf, model, lambda m: steer(host, m, d, strength=strength, stream="img"))
    u = strength * (d.vectors[0] * d.scale[0]).to(torch.float64)                     # closed form [H]
    for a, b in zip(inner, outer):
        per = a.video.shape[0] // len(a.cond_or_uncond)
        rows = torch.tensor([c == 0 for c in a.cond_or_uncond]).repeat_interleave(per)
        delta = (b.video - a.video).to(torch.float64)
        torch.testing.assert_close(delta[rows], u.expand_as(delta[rows]), rtol=1e-5, atol=1e-5)
        assert torch.equal(b.video[~rows], a.video[~rows])                           # cond_only
        assert torch.equal(b.audio, a.audio)                                         # audio untouched
        assert torch.equal(b.context, a.context)                                     # img stream only


def test_ltxav_txt_stream_edits_the_video_context_each_block_reads(host, tf):
    if not host_has_ltxav(tf):
        return
    model = tf.build_model("ltxav", seed=0)
    d = conditioning_direction(64, seed=4)
    inner, outer = av_observe(host, tf, model, lambda m: steer(host, m, d, strength=1.0, stream="txt", cond_only=False))
    u = (d.vectors[0] * d.scale[0]).to(torch.float64)
    for a, b in zip(inner, outer):
        # the inner recorder runs inside SafeSteer: it reads the steered context, the outer one the original
        delta = (a.context - b.context).to(torch.float64)
        torch.testing.assert_close(delta, u.expand_as(delta), rtol=1e-5, atol=1e-5)


def test_ltxav_strength_zero_is_bit_identical_and_the_sigma_window_holds(host, tf):
    if not host_has_ltxav(tf):
        return
    model = tf.build_model("ltxav", seed=0)
    d = conditioning_direction(64, seed=5)
    base = av_sample(host, tf, model)
    zero = av_sample(host, tf, steer(host, model, d, strength=0.0))
    assert all(torch.equal(x, y) for x, y in zip(base, zero))
    steered = av_sample(host, tf, steer(host, model, d, strength=2.0))
    assert not torch.equal(steered[0], base[0])
    assert all(torch.equal(x, y) for x, y in zip(av_sample(host, tf, model), base))   # nothing leaked
    sigma_end = float(model.get_model_object("model_sampling").percent_to_sigma(0.5))
    inner, outer = av_observe(host, tf, model, lambda m: steer(host, m, d, end=0.5, cond_only=False, stream="img"))
    seen = set()
    for a, b in zip(inner, outer):
        inside = a.sigma >= sigma_end
        assert (not torch.equal(a.video, b.video)) == inside, a.sigma
        seen.add(inside)
    assert seen == {True, False}


def test_ltxav_conditioning_space_direction_is_refused_clearly(host, tf):
    if not host_has_ltxav(tf):
        return
    model = tf.build_model("ltxav", seed=0)
    with pytest.raises(ValueError, match="LTX-2 AV's text projection needs more than the conditioning"):
        steer(host, model, conditioning_direction(65), space="conditioning")


# ------------------------------------------------------------------------------ Flux 2


def host_has_flux2(tf) -> bool:
    has = "flux2" in tf.available()
    flux_params = importlib.import_module("comfy.ldm.flux.model").FluxParams
    assert has == ("global_modulation" in flux_params.__dataclass_fields__)  # capability, both ways
    return has


def test_flux2_moves_every_site_by_the_text_shift_on_cond_rows_only(host, tf):
    if not host_has_flux2(tf):
        return  # this host's Flux has no Flux 2 (asserted above by capability)
    model = tf.build_model("flux2", seed=0)
    info = pack_module(host, "dit_adapter").inspect_model(model)
    assert (info.class_name, info.spec.text_projection, info.num_double, info.num_single) == ("Flux", "txt_in", 2, 2)
    d = conditioning_direction(64, seed=3)
    inner_model, inner = add_recorders(model, all_sites(info))
    outer_model, outer = add_recorders(steer(host, inner_model, d, strength=1.5), all_sites(info))
    tf_sample(host, tf, "flux2", outer_model, steps=2)
    assert len(inner) == len(outer) == 2 * 4
    u = 1.5 * linear_shift(model.model.diffusion_model.txt_in, d)[0]                  # closed form [H]
    for a, b in zip(inner, outer):
        rows = cond_rows(a, a.out["img"].shape[0])
        for stream, before in a.out.items():
            delta = (b.out[stream] - before).to(torch.float64)
            assert torch.equal(delta[~rows], torch.zeros_like(delta[~rows])), (a.site, stream)
            torch.testing.assert_close(delta[rows], u.expand_as(delta[rows]), rtol=1e-4, atol=1e-4)


def test_a_flux_text_norm_joins_the_text_projection_where_the_model_has_one(host, tf):
    if not host_has_flux2(tf):
        return
    inspect_model = pack_module(host, "dit_adapter").inspect_model
    model = tf.build_model("flux2", seed=0, txt_norm=True)
    info = inspect_model(model)
    if "txt_norm" not in importlib.import_module("comfy.ldm.flux.model").FluxParams.__dataclass_fields__:
        # a host whose Flux has no text norm builds none: the projection stays the affine txt_in
        assert getattr(model.model.diffusion_model, "txt_norm", None) is None and info.spec.text_projection_linear
        return
    assert info.spec.text_projection == "txt_norm+txt_in" and not info.spec.text_projection_linear
    dm = model.model.diffusion_model
    x = torch.randn(2, 5, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(info.project(x), dm.txt_in(dm.txt_norm(x)))
    assert inspect_model(tf.build_model("flux2", seed=0)).spec.text_projection_linear


# ------------------------------------------------------------------------------ Lumina2 post-block patches


def test_lumina2_steers_through_the_post_block_patch_where_the_host_calls_one(host, tm):
    model = tm.build_model("lumina2", seed=0)
    probe, called = model.clone(), []
    probe.set_model_double_block_patch(lambda args: called.append(args["block_index"]) or {})
    sample(host, tm, probe, "lumina2", steps=2)
    host_calls_post_patches = bool(called)               # capability of this host's NextDiT, seen by running it
    d = hidden_direction(host, model)
    steered = steer(host, model, d, strength=2.0)
    via_patch = sample(host, tm, steered, "lumina2")
    post_type = pack_module(host, "dit_patch").PostBlockPatch
    patches = steered.model_options["transformer_options"]["patches"]["double_block"]
    (post,) = [p for p in patches if isinstance(p, post_type)]
    assert post.seen == host_calls_post_patches
    hooks_only = steer(host, model, d, strength=2.0)
    hooks_only.model_options["transformer_options"]["patches"]["double_block"] = []
    via_hooks = sample(host, tm, hooks_only, "lumina2")
    torch.testing.assert_close(via_patch, via_hooks, rtol=1e-5, atol=1e-5)
    assert not torch.equal(via_patch, sample(host, tm, model, "lumina2"))


# ------------------------------------------------------------------------------ 0.33's Wan variants, Kandinsky 5, Z-Image pixel space


@dataclass
class PostRecord:
    img: torch.Tensor
    txt: torch.Tensor | None
    cond_or_uncond: list[int]
    sigma: float


@dataclass
class PostRecorder:
    """A post-block patch (``patches["double_block"]``) recording the image (and text) tokens each block hands on."""

    log: list[PostRecord]

    def __deepcopy__(self, memo: dict[int, Any]) -> "PostRecorder":
        return self

    def __call__(self, args: dict[str, Any]) -> dict[str, Any]:
        opts = args["transformer_options"]
        txt = args.get("txt")
        self.log.append(PostRecord(args["img"].detach().clone(), txt.detach().clone() if txt is not None else None,
                                   list(opts["cond_or_uncond"]), float(opts["sigmas"].reshape(-1)[0])))
        return {"img": args["img"]}


def post_observe(host, tf, name: str, model, steered_fn):
    """Sample with post-block recorders before and after SafeSteer's patches; return (inner, outer) logs."""
    inner_model, inner, outer = model.clone(), [], []
    inner_model.set_model_double_block_patch(PostRecorder(inner))
    outer_model = steered_fn(inner_model).clone()
    outer_model.set_model_double_block_patch(PostRecorder(outer))
    tf_sample(host, tf, name, outer_model, steps=2)
    assert len(inner) == len(outer) > 0
    return inner, outer


@dataclass
class ContextRecorder:
    """A ``patches_replace["dit"]`` callable recording the text context (payload ``key``) a block reads."""

    key: str
    log: list[torch.Tensor]
    previous: Any = None

    def __deepcopy__(self, memo: dict[int, Any]) -> "ContextRecorder":
        return self

    def __call__(self, args: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
        self.log.append(args[self.key].detach().clone())
        return self.previous(args, extra) if self.previous is not None else extra["original_block"](args)


def context_observe(host, tf, name: str, model, key: str, steered_fn):
    """The contexts block 0 reads inside SafeSteer's patch (inner) and as the host hands them (outer)."""
    def recorded(m, log):
        m = m.clone()
        previous = m.model_options.get("transformer_options", {}).get("patches_replace", {}).get("dit", {})
        m.set_model_patch_replace(ContextRecorder(key, log, previous.get(("double_block", 0))), "dit", "double_block", 0)
        return m

    inner, outer = [], []
    tf_sample(host, tf, name, recorded(steered_fn(recorded(model, inner)), outer), steps=2)
    assert len(inner) == len(outer) > 0
    return inner, outer


def hidden_shift(d: SafetyDirection, strength: float) -> torch.Tensor:
    """Closed form of an ``add`` with a hidden-space direction: ``strength * scale * v`` [H], float64."""
    return strength * (d.vectors[0] * d.scale[0]).to(torch.float64)


def new_family(host, tf, name: str):
    """The tiny model of ``name``, or None where the host lacks its class (asserted by capability both ways)."""
    has = name in tf.available()
    entry = next(e for e in CATALOGUE if e.name == tf.FAMILIES[name].diffusion_class)
    assert has == (host_class(entry) is not None), name
    return tf.build_model(name, seed=0) if has else None


WAN_VARIANTS = ["scail", "scail2", "animate2", "wandancer"]


@pytest.mark.parametrize("name", WAN_VARIANTS)
def test_wan_variants_steer_their_video_tokens_and_leave_reference_and_pose_tokens_alone(host, tf, name):
    model = new_family(host, tf, name)
    if model is None:
        return  # this host has no such Wan variant (asserted above by capability)
    info = pack_module(host, "dit_adapter").inspect_model(model)
    assert (info.class_name, info.hidden_size, info.num_double) == (tf.FAMILIES[name].diffusion_class, 128, 2)
    d = conditioning_direction(128, seed=3, scale=1.5)
    inner, outer = post_observe(host, tf, name, model, lambda m: steer(host, m, d, strength=2.0, stream="img"))
    before, video, after = tf.WAN_VARIANT_TOKENS[name]
    u = hidden_shift(d, 2.0)
    for a, b in zip(inner, outer):
        assert a.img.shape[1] == before + video + after                               # the layout counted by hand
        rows = torch.tensor([c == 0 for c in a.cond_or_uncond]).repeat_interleave(a.img.shape[0] // len(a.cond_or_uncond))
        delta = (b.img - a.img).to(torch.float64)[rows, before:before + video]
        torch.testing.assert_close(delta, u.expand_as(delta), rtol=1e-5, atol=1e-5)
        assert torch.equal(b.img[:, :before], a.img[:, :before])                       # reference tokens
        assert torch.equal(b.img[:, before + video:], a.img[:, before + video:])       # pose tokens
        assert torch.equal(b.img[~rows], a.img[~rows])                                 # cond_only


def test_wan_variant_strength_zero_is_bit_identical_and_txt_edits_the_context_blocks_read(host, tf):
    model = new_family(host, tf, "scail")
    if model is None:
        return
    d = conditioning_direction(128, seed=5)
    base = tf_sample(host, tf, "scail", model, steps=2)
    assert torch.equal(tf_sample(host, tf, "scail", steer(host, model, d, strength=0.0), steps=2), base)
    assert not torch.equal(tf_sample(host, tf, "scail", steer(host, model, d, strength=2.0), steps=2), base)
    assert torch.equal(tf_sample(host, tf, "scail", model, steps=2), base)             # nothing leaked
    inner, outer = context_observe(host, tf, "scail", model, "txt",
                                   lambda m: steer(host, m, d, strength=1.0, stream="txt", cond_only=False))
    for a, b in zip(inner, outer):
        delta = (a - b).to(torch.float64)
        torch.testing.assert_close(delta, hidden_shift(d, 1.0).expand_as(delta), rtol=1e-5, atol=1e-5)


def test_a_post_block_payload_that_does_not_add_up_stops_sampling_with_a_clear_error(host):
    dit_patch = pack_module(host, "dit_patch")
    site = importlib.import_module("steering_core.steering.sites").Site("double", 0)
    patch = dit_patch.VideoSpanPatch("k", (site,), "SCAILWanModel", (1, 2, 2))
    shifted = type("Plan", (), {"apply": lambda self, t, start, stop: torch.cat([t[:, :start], t[:, start:stop] + 1,
                                                                                  t[:, stop:]], 1)})()
    args = {"img": torch.zeros(1, 10, 8), "x": torch.zeros(1, 16, 2, 4, 4), "img_offset": 4, "block_index": 0,
            "transformer_options": {"k": dit_patch.CallState(shifted)}}             # 2*4*4/4 = 8 video tokens
    with pytest.raises(SafeSteerError, match=r"double:0 of SCAILWanModel: .*puts 8 video tokens after 4 reference "
                                             r"tokens, but the block output has 10 tokens"):
        patch(args)
    with pytest.raises(SafeSteerError, match=r"gives img_offset=None and x=\(1, 16, 2, 4, 4\), not a reference"):
        patch({**args, "img_offset": None})
    ok = patch({**args, "img_offset": 2})["img"]
    assert torch.equal(ok[:, 2:10], torch.ones(1, 8, 8)) and torch.equal(ok[:, :2], torch.zeros(1, 2, 8))


def test_kandinsky5_stays_refused_because_the_hosts_own_block_patch_path_fails(host, tf):
    """The evidence for Kandinsky 5's refusal, on the live host: a pass-through block patch (one that only
    calls the original block ComfyUI hands it) makes sampling fail inside ComfyUI's own ``block_wrap``."""
    if "kandinsky5" not in tf.available():
        assert host_class(next(e for e in CATALOGUE if e.name == "Kandinsky5")) is None
        return
    model = tf.build_model("kandinsky5", seed=0)
    assert torch.isfinite(tf_sample(host, tf, "kandinsky5", model, steps=1)).all()      # the model itself runs
    passthrough = model.clone()
    passthrough.set_model_patch_replace(lambda args, extra: {"x": extra["original_block"](args)}, "dit", "double_block", 0)
    with pytest.raises(TypeError, match="unexpected keyword argument 'x'"):
        tf_sample(host, tf, "kandinsky5", passthrough, steps=1)
    with pytest.raises(SafeSteerError, match=r"inside Kandinsky5: its only block patch point fails"):
        steer(host, model, conditioning_direction(64))


def test_zimage_pixel_space_steers_its_image_tokens_like_nextdit(host, tf):
    model = new_family(host, tf, "zimage_pixel")
    if model is None:
        return
    info = pack_module(host, "dit_adapter").inspect_model(model)
    assert (info.class_name, info.spec.mechanism, info.num_single) == ("NextDiTPixelSpace", "hooks", 2)
    d = conditioning_direction(64, seed=3, scale=1.5)
    steered = steer(host, model, d, strength=2.0, stream="img")
    inner, outer = post_observe(host, tf, "zimage_pixel", model, lambda m: steer(host, m, d, strength=2.0, stream="img"))
    # the first model call runs hooks inside the blocks (both logs see it steered); later calls the post patch
    later = [(a, b) for a, b in zip(inner, outer) if not torch.equal(a.img, b.img)]
    assert 0 < len(later) < len(inner)
    for a, b in later:
        assert a.img.shape[1] >= 4 * 4                                                  # 16 patches (+ padding)
        rows = torch.tensor([c == 0 for c in a.cond_or_uncond]).repeat_interleave(a.img.shape[0] // len(a.cond_or_uncond))
        delta = (b.img - a.img).to(torch.float64)
        torch.testing.assert_close(delta[rows], hidden_shift(d, 2.0).expand_as(delta[rows]), rtol=1e-5, atol=1e-5)
        assert torch.equal(b.img[~rows], a.img[~rows]) and torch.equal(b.txt, a.txt)  # cond_only, text untouched
    base = tf_sample(host, tf, "zimage_pixel", model)
    via_patch = tf_sample(host, tf, "zimage_pixel", steered)
    hooks_only = steer(host, model, d, strength=2.0, stream="img")
    hooks_only.model_options["transformer_options"]["patches"]["double_block"] = []
    torch.testing.assert_close(via_patch, tf_sample(host, tf, "zimage_pixel", hooks_only), rtol=1e-5, atol=1e-5)
    assert not torch.equal(via_patch, base)
    assert torch.equal(tf_sample(host, tf, "zimage_pixel", steer(host, model, d, strength=0.0)), base)


# ------------------------------------------------------------------------------ no silent no-ops


def families(tm, tf) -> list[str]:
    """Every steered tiny family with its own class (Flux 2 runs the Flux class, covered by ``flux``)."""
    from steering_core.steering.architectures import ARCHITECTURES

    return list(tm.ARCH_NAMES) + [n for n in tf.available()
                                  if n != "flux2" and tf.FAMILIES[n].diffusion_class in ARCHITECTURES]


def build(tm, tf, arch: str):
    return tf.build_model(arch, seed=0) if arch in tf.FAMILIES else tm.build_model(arch, seed=0)


def run(host, tm, tf, arch: str, model) -> None:
    if arch in tf.FAMILIES:
        tf_sample(host, tf, arch, model, steps=2)
    else:
        sample(host, tm, model, arch, steps=2)


def hidden_direction(host, model) -> SafetyDirection:
    info = pack_module(host, "dit_adapter").inspect_model(model)
    return conditioning_direction(info.hidden_size, seed=12)


def bypass_blocks(model):
    """A clone whose diffusion model returns its input without running any block, as a variant whose
    forward bypasses ComfyUI's block patch points would (its latent channels only, where the model takes
    concatenated conditioning channels: the Wan variants' masks and reference images)."""
    m = model.clone()
    out = getattr(model.model.diffusion_model, "out_dim", None)

    def bypass(x, *args, **kwargs):
        return x[:, :out] if isinstance(x, torch.Tensor) and isinstance(out, int) and x.shape[1] > out else x

    m.add_object_patch("diffusion_model.forward", bypass)
    return m


def test_every_family_raises_when_its_patched_blocks_never_run(host, tm, tf):
    for arch in families(tm, tf):
        model = build(tm, tf, arch)
        steered = steer(host, bypass_blocks(model), hidden_direction(host, model), strength=1.0, stream="img")
        with pytest.raises(SafeSteerError, match=r"DiT Safety Steer did nothing: \d+ model calls were inside"):
            run(host, tm, tf, arch, steered)
        run(host, tm, tf, arch, steer(host, model, hidden_direction(host, model), strength=1.0, stream="img"))


class MangledPayload:
    """A foreign block patch that hands back ``img`` in a shape the adapter does not expect."""

    def __init__(self, previous: Any = None):
        self.previous = previous

    def __deepcopy__(self, memo: dict[int, Any]) -> "MangledPayload":
        return self

    def __call__(self, args: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
        out = dict(extra["original_block"](args))
        img = out["img"]
        out["img"] = img[0] if isinstance(img, tuple) else (img, img)
        return out


def test_every_patch_point_family_raises_on_an_unexpected_block_payload(host, tm, tf):
    checked = []
    for arch in families(tm, tf):
        model = build(tm, tf, arch)
        info = pack_module(host, "dit_adapter").inspect_model(model)
        if info.spec.mechanism != "replace":
            continue
        m = model.clone()
        m.set_model_patch_replace(MangledPayload(), "dit", "double_block", 0)
        steered = steer(host, m, hidden_direction(host, model), strength=1.0, stream="img", sites="double:0")
        with pytest.raises(SafeSteerError, match=rf"cannot steer double:0 of {info.class_name}: the block's 'img' output"):
            run(host, tm, tf, arch, steered)
        checked.append(arch)
    assert {"flux", "sd3", "wan21", "qwen_image", "chroma", "ltxv", "hunyuan_video"} <= set(checked)


def test_gated_mode_where_no_gate_opens_reports_instead_of_raising(host, tm):
    model = tm.build_model("flux", seed=0)
    d = conditioning_direction(tm.arch("flux").context_dim, seed=8)
    shut = SafetyDirection.from_vectors(d.scaled_vectors, d.categories, thresholds=torch.tensor([-1e6]))
    steered = steer(host, model, shut, mode="gated")
    assert torch.equal(sample(host, tm, steered, "flux"), sample(host, tm, model, "flux"))
    (ledger,) = pack_module(host, "run_ledger").ledgers_of(steered)
    assert "no gate opened" in ledger.report and ledger.reached > 0 and ledger.edited == 0


def test_multi_category_sae_and_monitor_nodes_raise_when_their_blocks_never_run(host, tm):
    model = tm.build_model("flux", seed=0)
    bypassed = bypass_blocks(model)
    ctx = tm.arch("flux").context_dim
    d = conditioning_direction(ctx, seed=8)
    gated = SafetyDirection.from_vectors(d.scaled_vectors, d.categories, thresholds=torch.tensor([1e6]))  # always open
    multi = host.node_class_mappings["SafeSteerMultiCategoryModel"]
    steered = multi.execute(bypassed, gated, "all", "img", 0.0, 1.0, True, global_strength=1.0).result[0]
    with pytest.raises(SafeSteerError, match="Multi-Category Steer \\(Model\\) did nothing"):
        sample(host, tm, steered, "flux", steps=2)
    bundle = hand_made_bundle(torch.randn(64, 128, generator=torch.Generator().manual_seed(0)))
    with pytest.raises(SafeSteerError, match="SAE Blend/Repel did nothing"):
        sample(host, tm, blend_repel(host, bypassed, bundle, 0.5, 1.0), "flux", steps=2)
    monitor = host.node_class_mappings["SafeSteerSafetyMonitor"]
    watched = monitor.execute(bypassed, conditioning_direction(ctx, seed=1), "all", "img", "global", "m").result[0]
    with pytest.raises(SafeSteerError, match="Safety Monitor did nothing"):
        sample(host, tm, watched, "flux", steps=2)


def test_the_table_is_exact_and_refusals_name_the_class_its_reason_and_the_supported_list():
    from steering_core.steering.architectures import ARCHITECTURES, arch_for

    assert arch_for(["Flux", "Module", "object"]) is ARCHITECTURES["Flux"]
    assert arch_for(["LTXAVModel", "LTXVModel", "LTXBaseModel"]).img_element == 0
    assert arch_for(["SCAILWanModel", "WanModel", "Module"]).img_span == "post_offset"
    assert arch_for(["WanModel", "Module"]).img_span == ""
    with pytest.raises(SafeSteerError, match=r"inside Kandinsky5: its only block patch point fails .*TypeError"):
        arch_for(["Kandinsky5", "Module"])
    with pytest.raises(SafeSteerError, match=r"inside CausalWanModel: its autoregressive path .*classes Flux, "):
        arch_for(["CausalWanModel", "WanModel", "Module"])
    with pytest.raises(SafeSteerError, match=r"inside FancyFlux: it is a variant of Flux \(Flux\) whose blocks"):
        arch_for(["FancyFlux", "Flux", "Module"])
    with pytest.raises(SafeSteerError, match=r"inside UNetModel: it is not a diffusion transformer SafeSteer knows"):
        arch_for(["UNetModel", "Module"])
