"""V3 nodes of the test-only pack (node ids ``SafeSteerTiny*``); see ``__init__.py``."""

from __future__ import annotations

import hashlib
import math

import torch
from comfy_api.latest import ComfyExtension, io

from . import tiny_models as tm
from . import tiny_text_encoders as tte
from . import tiny_vae as tv

CATEGORY = "SafeSteer/testing"
SEED_MAX = 2**31 - 1
#: LatentStats lists the values themselves when a latent has at most this many elements.
MAX_LISTED_VALUES = 4096


def _dims(context_dim: int, pooled_dim: int) -> tuple[int | None, int | None]:
    return (int(context_dim) or None, int(pooled_dim) or None)


class SafeSteerTinyModel(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SafeSteerTinyModel",
            display_name="Tiny DiT (test-only, random weights)",
            category=CATEGORY,
            description="A tiny random-weight diffusion transformer built through ComfyUI's own model classes. For tests only.",
            inputs=[
                io.Combo.Input("arch", options=tm.ARCH_NAMES, default="flux"),
                io.Int.Input("seed", default=0, min=0, max=SEED_MAX, tooltip="weights are drawn from this seed"),
                io.Int.Input("context_dim", default=0, min=0, max=4096, tooltip="text token width; 0 = the arch's default (64)"),
                io.Int.Input("pooled_dim", default=0, min=0, max=4096, tooltip="pooled text width; 0 = the arch's default (64)"),
            ],
            outputs=[io.Model.Output()],
        )

    @classmethod
    def execute(cls, arch: str, seed: int, context_dim: int = 0, pooled_dim: int = 0) -> io.NodeOutput:
        ctx, pooled = _dims(context_dim, pooled_dim)
        return io.NodeOutput(tm.build_model(arch, seed, context_dim=ctx, pooled_dim=pooled))


class SafeSteerTinyLatent(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SafeSteerTinyLatent",
            display_name="Tiny latent (test-only)",
            category=CATEGORY,
            description="An empty (zeros) latent of the tiny arch's shape, or N(0,1) values when seed >= 0.",
            inputs=[
                io.Combo.Input("arch", options=tm.ARCH_NAMES, default="flux"),
                io.Int.Input("batch", default=1, min=1, max=64),
                io.Int.Input("seed", default=-1, min=-1, max=SEED_MAX, tooltip="-1: zeros (like EmptySD3LatentImage)"),
            ],
            outputs=[io.Latent.Output()],
        )

    @classmethod
    def execute(cls, arch: str, batch: int, seed: int = -1) -> io.NodeOutput:
        return io.NodeOutput(tm.make_latent(arch, batch, None if seed < 0 else seed))


class SafeSteerTinyConditioning(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SafeSteerTinyConditioning",
            display_name="Tiny synthetic conditioning (test-only)",
            category=CATEGORY,
            description="TEST-ONLY synthetic CONDITIONING: random text tokens (not an encoding of any text) with the "
            "extras the tiny arch reads (pooled_output, guidance, attention_mask, conditioning_llama3).",
            inputs=[
                io.Combo.Input("arch", options=tm.ARCH_NAMES, default="flux"),
                io.Int.Input("seed", default=0, min=0, max=SEED_MAX),
                io.Int.Input("tokens", default=7, min=1, max=512),
                io.Int.Input("context_dim", default=0, min=0, max=4096, tooltip="0 = the arch's default (64)"),
                io.Int.Input("pooled_dim", default=0, min=0, max=4096, tooltip="0 = the arch's default (64)"),
            ],
            outputs=[io.Conditioning.Output()],
        )

    @classmethod
    def execute(cls, arch: str, seed: int, tokens: int, context_dim: int = 0, pooled_dim: int = 0) -> io.NodeOutput:
        ctx, pooled = _dims(context_dim, pooled_dim)
        return io.NodeOutput(tm.make_conditioning(arch, seed, tokens, context_dim=ctx, pooled_dim=pooled))


class SafeSteerTinyTextEncoder(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SafeSteerTinyTextEncoder",
            display_name="Tiny text encoder (test-only)",
            category=CATEGORY,
            description="A ComfyUI CLIP built from ComfyUI's own text-encoder classes and real tokenizers: tiny random "
            "clip_l / flux (CLIP-L + T5) / qwen25 (Qwen2.5 LLM), or the real pretrained all-MiniLM-L6-v2 (minilm, 384-d) "
            "or SmolLM2-135M-Instruct in ComfyUI's Llama class (smollm2, 576-d).",
            inputs=[
                io.Combo.Input("kind", options=tte.TEXT_ENCODER_KINDS, default="clip_l"),
                io.Int.Input("seed", default=0, min=0, max=SEED_MAX, tooltip="weights seed (ignored by minilm and smollm2)"),
            ],
            outputs=[io.Clip.Output()],
        )

    @classmethod
    def execute(cls, kind: str, seed: int) -> io.NodeOutput:
        return io.NodeOutput(tte.build_clip(kind, seed))



class SafeSteerTinyVAE(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SafeSteerTinyVAE",
            display_name="Tiny VAE (test-only, random weights)",
            category=CATEGORY,
            description="A ComfyUI VAE detected by ComfyUI from a random TAESD (image archs) or TAEHV (video archs) "
                        "state dict: VAE Decode and the save nodes run for real on tiny latents. For tests only.",
            inputs=[
                io.Combo.Input("arch", options=sorted(tv.VAE_KINDS), default="flux"),
                io.Int.Input("seed", default=0, min=0, max=SEED_MAX, tooltip="weights are drawn from this seed"),
            ],
            outputs=[io.Vae.Output()],
        )

    @classmethod
    def execute(cls, arch: str, seed: int) -> io.NodeOutput:
        return io.NodeOutput(tv.build_vae(arch, seed))


def latent_stats(samples: torch.Tensor) -> dict[str, list]:
    """The ui dict SafeSteerTinyLatentStats returns (every value a list, as ComfyUI's history expects)."""
    x = samples.detach().to("cpu", torch.float32).contiguous()
    finite = bool(torch.isfinite(x).all())
    ui: dict[str, list] = {
        "shape": list(x.shape),
        "mean": [float(x.mean())],
        "std": [float(x.std()) if x.numel() > 1 else 0.0],
        "abs_max": [float(x.abs().max())],
        "finite": [finite],
        "sha256": [hashlib.sha256(x.numpy().tobytes()).hexdigest()],
        "numel": [x.numel()],
    }
    if x.numel() <= MAX_LISTED_VALUES:
        ui["values"] = [v if math.isfinite(v) else str(v) for v in x.flatten().tolist()]
    return ui


class SafeSteerTinyLatentStats(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SafeSteerTinyLatentStats",
            display_name="Latent stats (test-only)",
            category=CATEGORY,
            description="Reports a latent's shape, mean, std, sha256 of its float32 bytes and, when small, its values.",
            inputs=[io.Latent.Input("latent")],
            outputs=[],
            is_output_node=True,
        )

    @classmethod
    def execute(cls, latent: dict) -> io.NodeOutput:
        return io.NodeOutput(ui=latent_stats(latent["samples"]))


NODES: list[type[io.ComfyNode]] = [
    SafeSteerTinyModel,
    SafeSteerTinyLatent,
    SafeSteerTinyConditioning,
    SafeSteerTinyTextEncoder,
    SafeSteerTinyLatentStats,
    SafeSteerTinyVAE,
]


class SafeSteerTinyExtension(ComfyExtension):
    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        from .nodes_preview import SafeSteerTinyLatentPreview

        return [*NODES, SafeSteerTinyLatentPreview]
