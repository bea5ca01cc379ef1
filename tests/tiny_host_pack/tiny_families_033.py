"""Tiny random-weight models of DiT families beyond ``tiny_models`` (test-only): LTX-2 AV, Flux 2.

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
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
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
    """

    name: str
    model_config: str
    unet_config: dict[str, Any]
    context_dim: int
    hidden: int
    audio_hidden: int
    diffusion_class: str


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
}


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
    # Flux 2 has no pooled vector, but some hosts read the key (Flux's encode_adm)
    return [[cond, {"guidance": 3.5, "pooled_output": None} if name == "flux2" else {"frame_rate": 25}]]
