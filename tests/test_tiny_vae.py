"""The test kit's tiny VAE: ComfyUI detects it as TAESD / TAEHV and the real VAEDecode decodes tiny latents."""

from __future__ import annotations

import numpy as np
import pytest
import torch


@pytest.mark.parametrize(("arch", "latent", "image_shape"), [
    ("flux", [1, 16, 8, 8], (1, 64, 64, 3)),          # TAESD: 8x space
    ("wan21", [1, 16, 2, 8, 8], (5, 64, 64, 3)),      # TAEHV: 8x space, 4t-3 frames
])
def test_tiny_vae_decodes_through_comfy_vae_decode(comfy, arch, latent, image_shape):
    import comfy.sd
    import nodes as comfy_nodes

    import tiny_host_pack.tiny_vae as tiny_vae

    vae = tiny_vae.build_vae(arch, seed=0)
    assert isinstance(vae, comfy.sd.VAE)
    expected_class = {"flux": "TAESD", "wan21": "TAEHV"}[arch]
    assert type(vae.first_stage_model).__name__ == expected_class
    gen = torch.Generator().manual_seed(0)
    samples = torch.randn(*latent, generator=gen)
    with torch.inference_mode():                        # as the host's executor runs nodes
        (image,) = comfy_nodes.VAEDecode().decode(vae, {"samples": samples})
    if image.ndim == 5:                                  # video VAEs return [B, T, H, W, C]; the node keeps it
        image = image.reshape(-1, *image.shape[-3:])
    assert tuple(image.shape) == image_shape
    arr = image.numpy()
    assert np.isfinite(arr).all()
    if arch == "flux":                                   # TAESD's output goes through VAE.process_output's clamp;
        assert arr.min() >= 0.0 and arr.max() <= 1.0     # TAEHV's is identity (the save nodes clip to 0..255)
    assert arr.std() > 1e-3                              # a random network gives a non-constant image
    again = tiny_vae.build_vae(arch, seed=0)
    with torch.inference_mode():
        (image2,) = comfy_nodes.VAEDecode().decode(again, {"samples": samples})
    assert torch.equal(image2.reshape(image.shape), image)   # deterministic from the seed
