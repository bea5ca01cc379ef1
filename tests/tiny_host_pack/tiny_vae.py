"""Tiny random-weight VAEs as real ComfyUI ``VAE`` objects (test-only).

ComfyUI's ``comfy.sd.VAE`` picks its network from the keys of a state dict. The smallest networks
it knows are the tiny autoencoders: TAESD (``taesd_decoder.*`` keys; 2-d latents, 8x upscale) and
TAEHV (``decoder.22.bias``; Wan 2.1 / HunyuanVideo video latents, 8x space and 4x time upscale).
Here a random-weight state dict of the right class is handed to ``comfy.sd.VAE`` so the real
detection, ``VAEDecode`` and the image/video save nodes run unchanged; only the weights are fake.

Both networks take 16-channel latents, the width of every tiny DiT in ``tiny_models``.
"""

from __future__ import annotations

from typing import Any

import torch

from .tiny_models import init_random_

#: arch -> network: 2-d latents decode with TAESD; video latents (and Qwen-Image, whose VAE is Wan's) with TAEHV.
VAE_KINDS: dict[str, str] = {"flux": "taesd", "sd3": "taesd", "qwen_image": "taehv", "chroma": "taesd",
                             "lumina2": "taesd", "hidream": "taesd", "wan21": "taehv", "hunyuan_video": "taehv"}
LATENT_CHANNELS = 16


def tiny_vae_state_dict(arch: str, seed: int = 0) -> dict[str, torch.Tensor]:
    """A random state dict that ``comfy.sd.VAE`` detects as TAESD (image archs) or TAEHV (video archs)."""
    kind = VAE_KINDS.get(arch)
    if kind is None:
        raise ValueError(f"no tiny VAE for arch {arch!r}; known: {', '.join(sorted(VAE_KINDS))}.")
    if kind == "taesd":
        from comfy.taesd.taesd import TAESD

        net = init_random_(TAESD(latent_channels=LATENT_CHANNELS), seed)
        with torch.no_grad():                      # identity latent scaling, so decoding sees the latent itself
            net.vae_scale.fill_(1.0)
            net.vae_shift.fill_(0.0)
    else:
        from comfy.taesd.taehv import TAEHV

        net = init_random_(TAEHV(latent_channels=LATENT_CHANNELS), seed)
    return {k: v.detach().to(torch.float32).contiguous() for k, v in net.state_dict().items()}


def build_vae(arch: str, seed: int = 0) -> Any:
    """``comfy.sd.VAE`` around a tiny random network for ``arch`` (decodes ``[B, 16, H, W]`` or ``[B, 16, T, H, W]``)."""
    import comfy.sd

    return comfy.sd.VAE(sd=tiny_vae_state_dict(arch, seed))
