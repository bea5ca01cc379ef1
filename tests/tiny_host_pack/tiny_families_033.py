"""Tiny random-weight models of DiT families beyond ``tiny_models`` (test-only): LTX-2 AV, Flux 2, the
Wan variants with reference / pose tokens (SCAIL, SCAIL-2, Animate 2, WanDancer), Kandinsky 5 and
Z-Image pixel space (all ComfyUI 0.33).

Built like ``tiny_models``: ``comfy.supported_models.<Arch>(unet_config)`` -> ``get_model()`` ->
``ModelPatcher``, random weights from a seed. A family exists only on hosts whose
``comfy.supported_models`` has its config class: :func:`available` says which, by capability, so
tests parametrize over what the live host has.

``ltxav``: LTX-2 audio-video (``LTXAVModel``). Its latent is a ``comfy.nested_tensor.NestedTensor``
of a video latent ``[B, 128, F, H, W]`` and an audio latent ``[B, 8, T, 16]``; its blocks take and
return ``img = (video, audio)``. A text encoder's output goes through the model's own video and audio
connectors (``preprocess_text_embeds``, padded to 1024 register tokens) into ``2 * caption_channels``;
the synthetic conditioning here is already that wide, which the model takes as processed (few tokens,
fast on CPU).

``flux2``: Flux 2 (the ``Flux`` network with Flux 2's global modulation, 128 latent channels, patch 1;
``model_base.Flux2`` pads the text to 512 tokens). Its config comes from the host's own
``detect_unet_config`` on a few fake weight names, so it carries whatever fields the host declares;
``txt_norm=True`` adds the optional text RMSNorm (then the text projection is not affine).

Wan variants: a video latent ``[B, 16, 2, 8, 8]`` (Animate 2: 3 frames, frame 0 being its reference
slot) gives 32 video tokens of width 128 (patch 1x2x2); the conditioning carries what the variant
adds to a block's ``img`` (:data:`WAN_VARIANT_TOKENS` counts them by hand): SCAIL a reference frame
(16 tokens before the video) and a half-resolution pose video (8 tokens after it), Animate 2 a pose
video for its pose branch, WanDancer music features (added to its tokens after each block). Kandinsky 5 (refused; built to show
why): 32 video tokens of width 64. Z-Image pixel
space: an RGB ``[B, 3, 16, 16]`` image in 4x4 patches (16 tokens of width 64).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import torch

from .tiny_models import init_random_


#: Fake weights the host's detection reads as a tiny Flux 2 (hidden 128 = sum of its 4 x 32 rope axes).
FLUX2_KEYS = {"double_blocks.0.img_attn.norm.key_norm.scale": (32,), "double_stream_modulation_img.lin.weight": (1,),
              "img_in.weight": (128, 128), "txt_in.weight": (128, 64), "double_blocks.0.img_attn.qkv.weight": (1,),
              "double_blocks.1.img_attn.qkv.weight": (1,), "single_blocks.0.linear1.weight": (1,),
              "single_blocks.1.linear1.weight": (1,)}


@dataclass(frozen=True)
class TinyFamily:
    """One tiny family: its ``comfy.supported_models`` class, config and sizes.

    hidden: width of the steered (video) tokens; audio_hidden: width of the audio tokens (0: none).
    latent_shape: one sample's latent (LTX-2 AV: the video part). extra_latents: conditioning keys holding
    random latents of these shapes (``reference_latents``: a list of one). extras: constant extras.
    pooled_dim: width of ``pooled_output`` (0: none).
    """

    name: str
    model_config: str
    unet_config: dict[str, Any]
    context_dim: int
    hidden: int
    audio_hidden: int
    diffusion_class: str
    latent_shape: tuple[int, ...] = ()
    extra_latents: dict[str, tuple[int, ...]] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=lambda: {"frame_rate": 25})
    pooled_dim: int = 0


FAMILIES: dict[str, TinyFamily] = {
    "ltxav": TinyFamily(
        name="ltxav",
        model_config="LTXAV",
        unet_config=dict(
            image_model="ltxav", in_channels=128, audio_in_channels=128, cross_attention_dim=64,
            audio_cross_attention_dim=32, attention_head_dim=32, audio_attention_head_dim=16, num_attention_heads=2,
            audio_num_attention_heads=2, caption_channels=64, num_layers=2, connector_attention_head_dim=32,
            connector_num_attention_heads=2, connector_num_layers=1,
        ),
        context_dim=128,
        hidden=64,
        audio_hidden=32,
        diffusion_class="LTXAVModel",
    ),
    "flux2": TinyFamily(
        name="flux2",
        model_config="Flux2",
        unet_config={},  # detected from FLUX2_KEYS
        context_dim=64,
        hidden=128,
        audio_hidden=0,
        diffusion_class="Flux",
    ),
    **{name: TinyFamily(
        name=name,
        model_config=config,
        unet_config=dict(
            image_model="wan2.1", model_type=model_type, dim=128, ffn_dim=256, num_heads=2, num_layers=2, in_dim=in_dim,
            out_dim=16, text_dim=64, freq_dim=256, patch_size=(1, 2, 2), window_size=(-1, -1), qk_norm=True,
            cross_attn_norm=True, eps=1e-6, **more,
        ),
        context_dim=64,
        hidden=128,
        audio_hidden=0,
        diffusion_class=cls,
        latent_shape=latent,
        extra_latents=extra,
        extras={},
    ) for name, config, model_type, in_dim, cls, latent, extra, more in (
        ("scail", "WAN21_SCAIL", "scail", 20, "SCAILWanModel", (16, 2, 8, 8),
         {"reference_latents": (1, 16, 1, 8, 8), "pose_video_latent": (1, 16, 2, 4, 4)}, {}),
        ("scail2", "WAN21_SCAIL2", "scail2", 20, "SCAIL2WanModel", (16, 2, 8, 8),
         {"reference_latents": (1, 16, 1, 8, 8), "pose_video_latent": (1, 16, 2, 4, 4)}, {}),
        ("animate2", "WAN_Animate2", "animate2", 36, "WanAnimate2Model", (16, 3, 8, 8),
         {"pose_video_latent": (1, 16, 2, 8, 8)}, {}),
        ("wandancer", "WAN22_WanDancer", "wandancer", 36, "WanDancerModel", (16, 2, 8, 8),
         {"audio_embed": (1, 8, 35)}, dict(audio_inject_layers=[0, 1], music_dim=32, music_heads=2, music_latent_dim=32)),
    )},
    "kandinsky5": TinyFamily(
        name="kandinsky5",
        model_config="Kandinsky5",
        unet_config=dict(
            image_model="kandinsky5", in_visual_dim=16, out_visual_dim=16, in_text_dim=48, in_text_dim2=32, time_dim=32,
            model_dim=64, ff_dim=128, visual_embed_dim=(16 + 16 + 1) * 4, patch_size=(1, 2, 2), num_text_blocks=1,
            num_visual_blocks=2, axes_dims=(8, 12, 12),
        ),
        context_dim=48,
        hidden=64,
        audio_hidden=0,
        diffusion_class="Kandinsky5",
        latent_shape=(16, 2, 8, 8),
        extras={},
        pooled_dim=32,
    ),
    "zimage_pixel": TinyFamily(
        name="zimage_pixel",
        model_config="ZImagePixelSpace",
        unet_config=dict(
            image_model="zimage_pixel", patch_size=4, in_channels=3, dim=64, cap_feat_dim=64, n_layers=2,
            n_refiner_layers=1, n_heads=2, n_kv_heads=2, multiple_of=32, ffn_dim_multiplier=2.0, qk_norm=True,
            axes_dims=[8, 12, 12], axes_lens=[300, 64, 64], rope_theta=256.0, time_scale=1000.0,
            decoder_hidden_size=32, decoder_num_res_blocks=1, decoder_max_freqs=4,
        ),
        context_dim=64,
        hidden=64,
        audio_hidden=0,
        diffusion_class="NextDiTPixelSpace",
        latent_shape=(3, 16, 16),
        extras={},
    ),
}

#: Tokens of a Wan variant's block ``img`` by hand, from the shapes above: (before the video, video, after it).
#: SCAIL: 1 reference frame of 4x4 patches, 2 video frames of 4x4, a 2-frame pose video of 2x2 patches.
#: Animate 2: its frame-0 reference slot (4x4), then 2 video frames; its pose tokens run in a separate branch.
#: WanDancer: 2 video frames (its optional ref_conv reference tokens get no rope positions in the host's forward,
#: which then fails, so the tiny model has none; its music is added to the tokens after the post-block patches).
WAN_VARIANT_TOKENS = {"scail": (16, 32, 8), "scail2": (16, 32, 8), "animate2": (16, 32, 0), "wandancer": (0, 32, 0)}


def available() -> list[str]:
    """The families the live host can build (its ``comfy.supported_models`` has their config class)."""
    import comfy.supported_models as sm

    return [name for name, fam in FAMILIES.items() if hasattr(sm, fam.model_config)]


def _config(fam: TinyFamily, txt_norm: bool) -> dict[str, Any]:
    if fam.name != "flux2":
        return copy.deepcopy(fam.unet_config)
    import comfy.model_detection as md

    keys = {**FLUX2_KEYS, **({"txt_norm.scale": (64,)} if txt_norm else {})}
    config = md.detect_unet_config({k: torch.zeros(shape) for k, shape in keys.items()}, "")
    if not config or config.get("image_model") != "flux2":
        raise RuntimeError(f"this host's detect_unet_config does not read {sorted(keys)} as Flux 2: {config}")
    # some hosts fix the head count for the full-size model (48); a tiny one has one head per rope width
    return {**config, "num_heads": config["hidden_size"] // sum(config["axes_dim"])}


def build_model(name: str, seed: int = 0, dtype: torch.dtype = torch.float32, txt_norm: bool = False):
    """A ComfyUI MODEL (``ModelPatcher``) of the tiny family ``name``, deterministic from ``seed``."""
    import comfy.model_management as mm
    import comfy.model_patcher
    import comfy.supported_models as sm

    fam = FAMILIES[name]
    model_config = getattr(sm, fam.model_config)(_config(fam, txt_norm))
    model_config.set_inference_dtype(dtype, None)
    base = model_config.get_model({}, "")
    init_random_(base.diffusion_model, seed)
    base.diffusion_model.to(dtype)
    base.eval()
    return comfy.model_patcher.ModelPatcher(base, load_device=mm.get_torch_device(),
                                            offload_device=mm.unet_offload_device())


def make_latent(name: str, batch: int = 1) -> dict[str, Any]:
    """A zero LATENT for ``name`` (LTX-2 AV: a NestedTensor of a video and an audio latent)."""
    import comfy.nested_tensor

    if name == "flux2":
        return {"samples": torch.zeros(batch, 128, 4, 4)}
    if name in FAMILIES and FAMILIES[name].latent_shape:
        return {"samples": torch.zeros(batch, *FAMILIES[name].latent_shape)}
    if name != "ltxav":
        raise ValueError(f"unknown tiny family {name!r}")
    video = torch.zeros(batch, 128, 2, 4, 4)
    audio = torch.zeros(batch, 8, 5, 16)
    return {"samples": comfy.nested_tensor.NestedTensor([video, audio])}


def make_conditioning(name: str, seed: int = 0, tokens: int = 7, batch: int = 1) -> list[list[Any]]:
    """Synthetic CONDITIONING (TEST-ONLY: random tokens) ``[[cond (B, tokens, context_dim), extras]]``."""
    fam = FAMILIES[name]
    gen = torch.Generator().manual_seed(int(seed))
    cond = torch.randn((batch, int(tokens), fam.context_dim), generator=gen)
    if name == "flux2":  # Flux 2 has no pooled vector, but some hosts read the key (Flux's encode_adm)
        return [[cond, {"guidance": 3.5, "pooled_output": None}]]
    extras: dict[str, Any] = dict(fam.extras)
    for key, shape in fam.extra_latents.items():
        latent = torch.randn(shape, generator=gen)
        extras[key] = [latent] if key == "reference_latents" else latent
    if fam.pooled_dim:
        extras["pooled_output"] = torch.randn((batch, fam.pooled_dim), generator=gen)
    if name == "zimage_pixel":
        extras["attention_mask"] = torch.ones((batch, int(tokens)), dtype=torch.long)
    return [[cond, extras]]
