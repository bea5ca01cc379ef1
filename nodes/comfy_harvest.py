"""Run a ComfyUI MODEL over labelled prompts and hand the block activations at chosen sites to a sink.

Each prompt is encoded with the given CLIP and sampled with ComfyUI's own sampler (Euler, simple
schedule, CFG 1 so only the conditional branch runs) from the same seeded noise, so paired safe /
unsafe prompts differ only in their text. A recording plan installed through ``dit_patch.install``
(on a private clone) sees every chosen site's token stream at every step.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch

import comfy.model_management
import comfy.sample
from steering_core.sae.activation_source import LabeledPrompt, TokenSink, labeled_prompts
from steering_core.sae.activation_source import pooled_activations as core_pooled_activations
from steering_core.errors import SafeSteerError
from steering_core.steering.sites import Site

from .dit_adapter import DiTModelInfo, inspect_model
from .dit_patch import install
from .site_plans import ActivationRecorder

SAMPLER = "euler"
SCHEDULER = "simple"


def encode(clip: object, text: str) -> list:
    """ComfyUI CONDITIONING for ``text`` (what CLIPTextEncode produces)."""
    if clip is None or not hasattr(clip, "tokenize"):
        raise SafeSteerError("expected a CLIP (text encoder) input, e.g. from Load CLIP or a checkpoint loader.")
    return clip.encode_from_tokens_scheduled(clip.tokenize(text))  # type: ignore[attr-defined]


def run_prompts(model: object, clip: object, prompts: Sequence[LabeledPrompt | str], latent: dict, steps: int, seed: int,
                sites: tuple[Site, ...], stream: str, sink: TokenSink,
                progress: Callable[[int], None] | None = None, info: DiTModelInfo | None = None) -> DiTModelInfo:
    """Sample every prompt (``steps`` Euler steps at CFG 1 from seeded noise) and record ``sites``.

    ``prompts`` are texts or LabeledPrompts. ``latent`` is a ComfyUI LATENT (its first item sets the
    shape). ``stream`` is img/txt/both.
    Raises ComfyUI's interruption when the user cancels the queue between prompts.
    """
    if steps < 1:
        raise SafeSteerError(f"steps must be at least 1, got {steps}.")
    if not isinstance(latent, dict) or not isinstance(latent.get("samples"), torch.Tensor):
        raise SafeSteerError("expected a LATENT input (e.g. from Empty Latent Image) to set the sampling size.")
    info = info or inspect_model(model)
    current = [0]

    def record(site: Site, tokens: torch.Tensor, step: int) -> None:
        for row in tokens:
            sink(current[0], site, row, step)

    recorder = ActivationRecorder(sites, record)
    patched = install(model, info, recorder.planner(cond_only=True), sites, stream,
                      sigma_start=float("inf"), sigma_end=float("-inf"), what="activation recorder")
    latent_image = comfy.sample.fix_empty_latent_channels(patched, latent["samples"][:1])
    noise = comfy.sample.prepare_noise(latent_image, seed)
    for i, prompt in enumerate(prompts):
        comfy.model_management.throw_exception_if_processing_interrupted()
        cond = encode(clip, prompt if isinstance(prompt, str) else prompt.text)
        current[0] = i
        recorder.calls = 0
        comfy.sample.sample(patched, noise, steps, 1.0, SAMPLER, SCHEDULER, cond, cond, latent_image,
                            disable_pbar=True, seed=seed)
        if progress is not None:
            progress(1)
    return info


def pooled_activations(model: object, clip: object, prompts: Sequence[LabeledPrompt], latent: dict, steps: int,
                       seed: int, sites: tuple[Site, ...], stream: str,
                       progress: Callable[[int], None] | None = None) -> dict[Site, torch.Tensor]:
    """Per site ``[N, H]``: each prompt's block activations averaged over tokens and steps."""
    from .comfy_source import ComfyActivationSource  # it wraps run_prompts above

    return core_pooled_activations(ComfyActivationSource(model, clip, latent), [p.text for p in prompts], steps, seed,
                                   sites, stream, progress)


__all__ = ["LabeledPrompt", "TokenSink", "encode", "labeled_prompts", "pooled_activations", "run_prompts"]
