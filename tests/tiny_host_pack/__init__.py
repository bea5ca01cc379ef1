"""SafeSteer test kit: a tiny V3 custom-node pack for tests and demos (not shipped to users).

Loaded by a real ComfyUI from ``<base>/custom_nodes/safesteer_testkit`` (a symlink made by
``tests/comfy_host.make_base_dir``). Node ids (all prefixed ``SafeSteerTiny``):

* ``SafeSteerTinyModel``        (arch, seed, context_dim, pooled_dim) -> MODEL: a tiny random-weight
  DiT built through ComfyUI's own model classes (``tiny_models.ARCHS``).
* ``SafeSteerTinyLatent``       (arch, batch, seed) -> LATENT of that arch's shape.
* ``SafeSteerTinyConditioning`` (arch, seed, tokens, context_dim, pooled_dim) -> CONDITIONING,
  synthetic and TEST-ONLY (random tokens, no text).
* ``SafeSteerTinyTextEncoder``  (kind, seed) -> CLIP from ComfyUI's text-encoder classes with real
  tokenizers (``tiny_text_encoders.TEXT_ENCODERS``; ``minilm`` is the real all-MiniLM-L6-v2, ``smollm2`` the real
  SmolLM2-135M-Instruct in ComfyUI's Llama class).
* ``SafeSteerTinyLatentStats``  (latent) -> ui {shape, mean, std, abs_max, finite, sha256, numel, values}.
* ``SafeSteerTinyVAE``          (arch, seed) -> VAE: ComfyUI's VAE around a random TAESD / TAEHV
  (``tiny_vae``), so ``VAEDecode`` and the save nodes run for real.

Importing this package needs nothing from ComfyUI; ``comfy_entrypoint`` (called by the host) and
the builders in ``tiny_models`` / ``tiny_text_encoders`` import ComfyUI lazily.
"""

from __future__ import annotations


async def comfy_entrypoint():
    from .nodes_tiny import SafeSteerTinyExtension

    return SafeSteerTinyExtension()
