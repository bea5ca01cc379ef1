"""Tiny random-weight diffusion transformers built through ComfyUI's own classes (test-only).

Every model is a real ComfyUI MODEL: ``comfy.supported_models.<Arch>(unet_config)`` ->
``model_config.get_model()`` (``comfy.model_base.<Arch>`` wrapping the real ``comfy.ldm`` network) ->
``comfy.model_patcher.ModelPatcher``. Only the sizes are tiny (a few blocks, hidden <= 256) and the
weights are random, drawn deterministically from a seed. Conditioning for them is synthetic
(:func:`make_conditioning`) or comes from the tiny text encoders in ``tiny_text_encoders``.

ComfyUI must be importable (its folder first on ``sys.path``, ``args.cpu`` set and
``utils.extra_config`` imported before ``nodes``): tests get that from the ``comfy`` fixture, the
host gets it by loading this pack.

``ARCHS`` maps an arch name to a :class:`TinyArch` describing the config, the latent shape, the text
context width (``context_dim``) and the block containers the steering code hooks into.

Version-aware: families whose network takes a ``*Params`` dataclass (Flux, Chroma, HunyuanVideo)
gain required fields between ComfyUI releases (0.33 added ``txt_ids_dims``, Chroma's ``vec_in_dim``,
HunyuanVideo's ``meanflow_sum``), so their configs start from what the host's own
``comfy.model_detection.detect_unet_config`` derives from a few fake weight names and shapes
(``TinyArch.detect_keys``), and only the sizes are overridden: whatever fields the running host
declares, its detection fills.
"""

from __future__ import annotations

import copy
import hashlib
import math
from dataclasses import dataclass, field
from typing import Any

import torch

#: Width of the text conditioning every tiny DiT expects by default (``context_dim`` of each arch).
CONTEXT_DIM = 64
#: Width of the pooled text vector (``pooled_output``) for archs that take one.
POOLED_DIM = 64


@dataclass(frozen=True)
class TinyArch:
    """One tiny architecture.

    name: the arch id used by the nodes (``flux``, ``sd3``...).
    model_config: class name in ``comfy.supported_models``.
    unet_config: the config passed to it (the diffusion model's constructor kwargs); ``{ctx}`` and
        ``{pooled}`` placeholders are filled by :meth:`config`.
    latent_shape: one sample's latent shape, without the batch dim ((C, H, W) or (C, T, H, W)).
    context_dim: width of the text tokens (``c_crossattn``) the model takes by default.
    pooled_dim: width of ``pooled_output`` (None: the arch takes none).
    hidden: the transformer width; blocks: {container attribute: count}.
    text_in: attribute path of the module that takes the text tokens in (its kind in ``text_in_kind``).
    extras: extra conditioning keys beyond ``pooled_output`` (documentation; see make_conditioning).
    detect_keys: {weight name: shape} of a fake state dict the host's ``detect_unet_config`` recognises
        as this family; when given, :meth:`config` is that detected config updated with ``unet_config``
        (empty: ``unet_config`` alone is the whole config).
    """

    name: str
    model_config: str
    unet_config: dict[str, Any]
    latent_shape: tuple[int, ...]
    context_dim: int
    pooled_dim: int | None
    hidden: int
    blocks: dict[str, int]
    text_in: str
    text_in_kind: str
    extras: dict[str, Any] = field(default_factory=dict)
    notes: str = ""
    detect_keys: dict[str, tuple[int, ...]] = field(default_factory=dict)

    def config(self, context_dim: int | None = None, pooled_dim: int | None = None) -> dict[str, Any]:
        """The diffusion model's constructor kwargs on the running host (needs ComfyUI importable
        when ``detect_keys`` is set)."""
        ctx = int(context_dim or self.context_dim)
        pooled = int(pooled_dim or self.pooled_dim or POOLED_DIM)
        sizes = _fill(copy.deepcopy(self.unet_config), ctx, pooled)
        if not self.detect_keys:
            return sizes
        return {**detected_config(self.name, self.detect_keys), **sizes}

    @property
    def is_video(self) -> bool:
        return len(self.latent_shape) == 4


def _fill(value: Any, ctx: int, pooled: int) -> Any:
    if isinstance(value, dict):
        return {k: _fill(v, ctx, pooled) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, ctx, pooled) for v in value]
    if value == "{ctx}":
        return ctx
    if value == "{pooled}":
        return pooled
    return value


def detected_config(name: str, keys: dict[str, tuple[int, ...]]) -> dict[str, Any]:
    """``comfy.model_detection.detect_unet_config`` on a fake state dict of zeros with these shapes."""
    import comfy.model_detection as md

    config = md.detect_unet_config({k: torch.zeros(shape) for k, shape in keys.items()}, "")
    if not config:
        raise RuntimeError(f"the host's detect_unet_config does not recognise the tiny {name} keys {sorted(keys)}; "
                           "update TinyArch.detect_keys for this host")
    return config


#: Fake weights that detection reads as a Flux-family model (shapes only matter where detection reads them).
_FLUX_KEYS = {"double_blocks.0.img_attn.norm.key_norm.scale": (64,), "img_in.weight": (128, 64),
              "txt_in.weight": (128, 64), "double_blocks.0.img_attn.qkv.weight": (1,), "single_blocks.0.linear1.weight": (1,)}

ARCHS: dict[str, TinyArch] = {
    "flux": TinyArch(
        name="flux",
        model_config="Flux",
        unet_config=dict(
            image_model="flux", in_channels=16, out_channels=16, vec_in_dim="{pooled}", context_in_dim="{ctx}",
            hidden_size=128, mlp_ratio=2.0, num_heads=2, depth=2, depth_single_blocks=2, axes_dim=[16, 24, 24],
            theta=10000, patch_size=2, qkv_bias=True, guidance_embed=True,
        ),
        latent_shape=(16, 8, 8),
        context_dim=CONTEXT_DIM,
        pooled_dim=POOLED_DIM,
        hidden=128,
        blocks={"double_blocks": 2, "single_blocks": 2},
        text_in="txt_in",
        text_in_kind="Linear",
        extras={"guidance": 3.5},
        detect_keys={**_FLUX_KEYS, "vector_in.in_layer.weight": (128, 64), "guidance_in.in_layer.weight": (128, 256)},
    ),
    "sd3": TinyArch(
        name="sd3",
        model_config="SD3",
        unet_config=dict(
            in_channels=16, out_channels=16, patch_size=2, depth=2, input_size=None, adm_in_channels="{pooled}",
            context_embedder_config={"target": "torch.nn.Linear", "params": {"in_features": "{ctx}", "out_features": 128}},
            num_patches=256, pos_embed_max_size=16, pos_embed_scaling_factor=None, qk_norm="rms", x_block_self_attn_layers=[],
        ),
        latent_shape=(16, 8, 8),
        context_dim=CONTEXT_DIM,
        pooled_dim=POOLED_DIM,
        hidden=128,
        blocks={"joint_blocks": 2},
        text_in="context_embedder",
        text_in_kind="Linear",
        notes="MMDiT: hidden = 64 * depth, heads = depth",
    ),
    "wan21": TinyArch(
        name="wan21",
        model_config="WAN21_T2V",
        unet_config=dict(
            image_model="wan2.1", model_type="t2v", dim=128, ffn_dim=256, num_heads=2, num_layers=2, in_dim=16, out_dim=16,
            text_dim="{ctx}", freq_dim=256, patch_size=(1, 2, 2), window_size=(-1, -1), qk_norm=True, cross_attn_norm=True, eps=1e-6,
        ),
        latent_shape=(16, 2, 8, 8),
        context_dim=CONTEXT_DIM,
        pooled_dim=None,
        hidden=128,
        blocks={"blocks": 2},
        text_in="text_embedding",
        text_in_kind="Sequential(Linear, GELU, Linear)",
    ),
    "hunyuan_video": TinyArch(
        name="hunyuan_video",
        model_config="HunyuanVideo",
        unet_config=dict(
            image_model="hunyuan_video", in_channels=16, out_channels=16, patch_size=[1, 2, 2], vec_in_dim="{pooled}",
            context_in_dim="{ctx}", hidden_size=128, mlp_ratio=2.0, num_heads=2, depth=2, depth_single_blocks=2,
            axes_dim=[16, 24, 24], theta=256, qkv_bias=True, guidance_embed=True, byt5=False, meanflow=False,
            use_cond_type_embedding=False, vision_in_dim=None,
        ),
        latent_shape=(16, 2, 8, 8),
        context_dim=CONTEXT_DIM,
        pooled_dim=POOLED_DIM,
        hidden=128,
        blocks={"double_blocks": 2, "single_blocks": 2},
        text_in="txt_in",
        text_in_kind="TokenRefiner (input_embedder Linear + refiner blocks)",
        extras={"guidance": 6.0},
        detect_keys={"txt_in.individual_token_refiner.blocks.0.norm1.weight": (128,), "img_in.proj.weight": (128, 16, 1, 2, 2),
                     "final_layer.linear.weight": (64, 128), "txt_in.input_embedder.weight": (128, 64),
                     "vector_in.in_layer.weight": (128, 64), "guidance_in.in_layer.weight": (128, 256),
                     "double_blocks.0.img_attn.qkv.weight": (1,), "single_blocks.0.linear1.weight": (1,)},
    ),
    "qwen_image": TinyArch(
        name="qwen_image",
        model_config="QwenImage",
        unet_config=dict(
            image_model="qwen_image", patch_size=2, in_channels=64, out_channels=16, num_layers=2, attention_head_dim=64,
            num_attention_heads=2, joint_attention_dim="{ctx}", axes_dims_rope=(16, 24, 24),
        ),
        latent_shape=(16, 1, 8, 8),
        context_dim=CONTEXT_DIM,
        pooled_dim=None,
        hidden=128,
        blocks={"transformer_blocks": 2},
        text_in="txt_in",
        text_in_kind="Linear (after txt_norm RMSNorm)",
    ),
    "ltxv": TinyArch(
        name="ltxv",
        model_config="LTXV",
        unet_config=dict(
            image_model="ltxv", in_channels=128, cross_attention_dim=64, attention_head_dim=32, num_attention_heads=2,
            caption_channels="{ctx}", num_layers=2,
        ),
        latent_shape=(128, 2, 4, 4),
        context_dim=CONTEXT_DIM,
        pooled_dim=None,
        hidden=64,
        blocks={"transformer_blocks": 2},
        text_in="caption_projection",
        text_in_kind="PixArtAlphaTextProjection (Linear, GELU-tanh, Linear)",
        extras={"frame_rate": 25},
    ),
    "chroma": TinyArch(
        name="chroma",
        model_config="Chroma",
        unet_config=dict(
            image_model="chroma", in_channels=64, out_channels=64, context_in_dim="{ctx}", hidden_size=128, mlp_ratio=2.0,
            num_heads=2, depth=2, depth_single_blocks=2, axes_dim=[16, 24, 24], theta=10000, patch_size=2, qkv_bias=True,
            in_dim=64, out_dim=128, hidden_dim=128, n_layers=2,
        ),
        latent_shape=(16, 8, 8),
        context_dim=CONTEXT_DIM,
        pooled_dim=None,
        hidden=128,
        blocks={"double_blocks": 2, "single_blocks": 2},
        text_in="txt_in",
        text_in_kind="Linear",
        detect_keys={**_FLUX_KEYS, "distilled_guidance_layer.norms.0.scale": (128,)},
    ),
    "lumina2": TinyArch(
        name="lumina2",
        model_config="Lumina2",
        unet_config=dict(
            image_model="lumina2", patch_size=2, in_channels=16, dim=128, cap_feat_dim="{ctx}", n_layers=2, n_refiner_layers=1,
            n_heads=2, n_kv_heads=2, multiple_of=32, ffn_dim_multiplier=2.0, qk_norm=True, axes_dims=[16, 24, 24],
            axes_lens=[300, 64, 64], rope_theta=10000.0,
        ),
        latent_shape=(16, 8, 8),
        context_dim=CONTEXT_DIM,
        pooled_dim=None,
        hidden=128,
        blocks={"layers": 2, "noise_refiner": 1, "context_refiner": 1},
        text_in="cap_embedder",
        text_in_kind="Sequential(RMSNorm, Linear)",
    ),
    "hidream": TinyArch(
        name="hidream",
        model_config="HiDream",
        unet_config=dict(
            image_model="hidream", patch_size=2, in_channels=16, out_channels=16, num_layers=2, num_single_layers=2,
            attention_head_dim=64, num_attention_heads=2, caption_channels=["{ctx}", "{ctx}"], text_emb_dim="{pooled}",
            num_routed_experts=2, num_activated_experts=1, axes_dims_rope=[16, 24, 24], max_resolution=[32, 32],
            llama_layers=[0, 1, 2, 3],
        ),
        latent_shape=(16, 8, 8),
        context_dim=CONTEXT_DIM,
        pooled_dim=POOLED_DIM,
        hidden=128,
        blocks={"double_stream_blocks": 2, "single_stream_blocks": 2},
        text_in="caption_projection",
        text_in_kind="ModuleList of TextProjection (Linear, no bias), one per block + one for T5",
        extras={"conditioning_llama3": "(B, 4, tokens, ctx)"},
    ),
}

ARCH_NAMES = list(ARCHS)


def arch(name: str) -> TinyArch:
    try:
        return ARCHS[name]
    except KeyError:
        raise ValueError(f"unknown tiny arch {name!r}; known: {', '.join(ARCHS)}") from None


# --------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------


def init_random_(module: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Fill every entry of ``module.state_dict()`` deterministically from ``seed``.

    Matrices and conv kernels: N(0, 1/fan_in); 1-d weights / scales of norm layers: 1 + N(0, 0.02);
    everything else (biases, modulation tables, embeddings): N(0, 0.02). Tensors are drawn in
    sorted-name order from one CPU generator, so the result is independent of device and of
    construction order.
    """
    gen = torch.Generator(device="cpu").manual_seed(int(seed) & 0xFFFF_FFFF_FFFF_FFFF)
    state = module.state_dict(keep_vars=True)
    with torch.no_grad():
        for name in sorted(state):
            t = state[name]
            if not torch.is_floating_point(t):
                continue
            leaf = name.rsplit(".", 1)[-1]
            if t.dim() >= 2 and leaf == "weight":
                fan_in = math.prod(t.shape[1:])
                value = torch.randn(t.shape, generator=gen) / math.sqrt(fan_in)
            elif t.dim() == 1 and (leaf == "scale" or (leaf == "weight" and "norm" in name.lower())):
                value = 1.0 + 0.02 * torch.randn(t.shape, generator=gen)
            else:
                value = 0.02 * torch.randn(t.shape, generator=gen)
            t.copy_(value.to(dtype=t.dtype, device=t.device))
    return module


def build_base_model(name: str, seed: int = 0, *, context_dim: int | None = None, pooled_dim: int | None = None,
                     dtype: torch.dtype = torch.float32):
    """A ``comfy.model_base.BaseModel`` subclass for ``name`` with random weights (CPU, ``dtype``)."""
    import comfy.supported_models as sm

    spec = arch(name)
    cfg = spec.config(context_dim, pooled_dim)
    model_config = getattr(sm, spec.model_config)(cfg)
    model_config.set_inference_dtype(dtype, None)
    base = model_config.get_model({}, "")
    init_random_(base.diffusion_model, seed)
    base.diffusion_model.to(dtype)
    base.eval()
    return base


def build_model(name: str, seed: int = 0, *, context_dim: int | None = None, pooled_dim: int | None = None,
                dtype: torch.dtype = torch.float32):
    """A ComfyUI MODEL (``ModelPatcher``) for the tiny arch ``name``, deterministic from ``seed``."""
    import comfy.model_management as mm
    import comfy.model_patcher

    base = build_base_model(name, seed, context_dim=context_dim, pooled_dim=pooled_dim, dtype=dtype)
    return comfy.model_patcher.ModelPatcher(base, load_device=mm.get_torch_device(), offload_device=mm.unet_offload_device())


def weight_digest(model: Any) -> str:
    """sha256 over the diffusion model's state dict (names, shapes and float32 bytes)."""
    base = getattr(model, "model", model)
    net = getattr(base, "diffusion_model", base)
    h = hashlib.sha256()
    for name, t in sorted(net.state_dict().items()):
        h.update(name.encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return h.hexdigest()


# --------------------------------------------------------------------------------------------
# Latents and synthetic conditioning
# --------------------------------------------------------------------------------------------


def latent_shape(name: str, batch: int = 1) -> tuple[int, ...]:
    return (int(batch), *arch(name).latent_shape)


def make_latent(name: str, batch: int = 1, seed: int | None = None) -> dict[str, torch.Tensor]:
    """A LATENT dict for ``name``: zeros (like ``EmptySD3LatentImage``) or, with ``seed``, N(0, 1)."""
    shape = latent_shape(name, batch)
    if seed is None:
        samples = torch.zeros(shape)
    else:
        samples = torch.randn(shape, generator=torch.Generator().manual_seed(int(seed)))
    return {"samples": samples}


def make_conditioning(name: str, seed: int = 0, tokens: int = 7, batch: int = 1, *, context_dim: int | None = None,
                      pooled_dim: int | None = None) -> list[list[Any]]:
    """Synthetic CONDITIONING for ``name`` (TEST-ONLY: random tokens, not a text encoding).

    ``[[cross_attn (batch, tokens, context_dim), extras]]`` with the extras the arch reads:
    ``pooled_output`` (batch, pooled_dim) where it takes one, ``guidance`` for flux and hunyuan_video,
    ``attention_mask`` (all ones) for lumina2 and ltxv, ``pooled_output=None`` for chroma, ``conditioning_llama3`` (batch, 4, tokens, ctx) for hidream.
    """
    spec = arch(name)
    ctx = int(context_dim or spec.context_dim)
    gen = torch.Generator().manual_seed(int(seed))
    cond = torch.randn((batch, int(tokens), ctx), generator=gen)
    extras: dict[str, Any] = {}
    if spec.pooled_dim is not None:
        pooled = int(pooled_dim or spec.pooled_dim)
        extras["pooled_output"] = torch.randn((batch, pooled), generator=gen)
    if "guidance" in spec.extras:
        extras["guidance"] = float(spec.extras["guidance"])
    if name in ("lumina2", "ltxv"):
        extras["attention_mask"] = torch.ones((batch, int(tokens)), dtype=torch.long)
    if name == "chroma":
        extras["pooled_output"] = None  # Chroma reads the key (Flux's encode_adm) but uses no pooled vector
    if name == "hidream":
        n = len(spec.unet_config["llama_layers"])
        extras["conditioning_llama3"] = torch.randn((batch, n, int(tokens), ctx), generator=gen)
    return [[cond, extras]]
