"""``SafeSteerTinyLatentPreview``: LATENT -> IMAGE the way ComfyUI's live preview does (test/demo only).

Tiny random models come with no VAE, so demos show latents through the latent format's
``latent_rgb_factors`` (the linear latent-to-RGB map ComfyUI's sampler previews use), upscaled
with nearest-neighbour so each latent pixel stays visible.
"""

from __future__ import annotations

import torch
from comfy_api.latest import io

FORMATS = {"flux": "Flux", "sd3": "SD3", "wan21": "Wan21", "qwen_image": "Wan21", "chroma": "Flux",
           "hunyuan_video": "HunyuanVideo", "ltxv": "LTXV", "lumina2": "Flux", "hidream": "Flux"}


def latent_preview(samples: torch.Tensor, arch: str, upscale: int) -> torch.Tensor:
    import comfy.latent_formats as lf

    fmt = getattr(lf, FORMATS.get(arch, "Flux"))()
    x = samples
    if x.ndim == 5:                       # video [B, C, T, H, W]: frames side by side
        x = torch.cat(list(x.unbind(2)), dim=-1)
    factors = torch.tensor(fmt.latent_rgb_factors, dtype=torch.float32)          # [C, 3]
    bias = torch.tensor(getattr(fmt, "latent_rgb_factors_bias", None) or [0.0, 0.0, 0.0])
    rgb = torch.einsum("bchw,cr->bhwr", x.to(torch.float32)[:, : factors.shape[0]], factors) + bias
    rgb = ((rgb + 1.0) / 2.0).clamp(0.0, 1.0)
    if upscale > 1:
        rgb = rgb.repeat_interleave(upscale, dim=1).repeat_interleave(upscale, dim=2)
    return rgb


class SafeSteerTinyLatentPreview(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SafeSteerTinyLatentPreview",
            display_name="Tiny Latent Preview (test kit)",
            category="SafeSteer/testkit",
            description="Latent to RGB through the latent format's preview factors (no VAE needed).",
            inputs=[io.Latent.Input("samples"),
                    io.Combo.Input("arch", options=sorted(FORMATS), default="flux"),
                    io.Int.Input("upscale", default=8, min=1, max=32)],
            outputs=[io.Image.Output()],
        )

    @classmethod
    def execute(cls, samples: dict, arch: str, upscale: int) -> io.NodeOutput:
        return io.NodeOutput(latent_preview(samples["samples"], arch, upscale))
