"""Run a ComfyUI MODEL over labelled prompts and hand the block activations at chosen sites to a sink.

Each prompt is encoded with the given CLIP and sampled with ComfyUI's own sampler (Euler, simple
schedule, CFG 1 so only the conditional branch runs) from the same seeded noise, so paired safe /
unsafe prompts differ only in their text. A recording plan installed through ``dit_patch.install``
(on a private clone) sees every chosen site's token stream at every step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import torch

import comfy.model_management
import comfy.sample
from steering_core import PromptPair
from steering_core.errors import SafeSteerError
from steering_core.sites import Site

from .dit_adapter import DiTModelInfo, inspect_model
from .dit_patch import install
from .site_plans import ActivationRecorder

SAMPLER = "euler"
SCHEDULER = "simple"


@dataclass(frozen=True)
class LabeledPrompt:
    """A prompt with its labels: ``pair`` indexes the pair within its category (-1 for unpaired prompts)."""

    text: str
    unsafe: bool
    category: str
    pair: int = -1


def labeled_prompts(pairs: dict[str, list[PromptPair]]) -> list[LabeledPrompt]:
    """Both prompts of every pair, safe first, category by category."""
    out = []
    for category, plist in pairs.items():
        for i, p in enumerate(plist):
            out.append(LabeledPrompt(p.safe, False, category, i))
            out.append(LabeledPrompt(p.unsafe, True, category, i))
    return out


def encode(clip: object, text: str) -> list:
    """ComfyUI CONDITIONING for ``text`` (what CLIPTextEncode produces)."""
    if clip is None or not hasattr(clip, "tokenize"):
        raise SafeSteerError("expected a CLIP (text encoder) input, e.g. from Load CLIP or a checkpoint loader.")
    return clip.encode_from_tokens_scheduled(clip.tokenize(text))  # type: ignore[attr-defined]


#: ``sink(prompt_index, site, tokens [T, H] float32 CPU, step)``
TokenSink = Callable[[int, Site, torch.Tensor, int], None]


def run_prompts(model: object, clip: object, prompts: Sequence[LabeledPrompt], latent: dict, steps: int, seed: int,
                sites: tuple[Site, ...], stream: str, sink: TokenSink,
                progress: Callable[[int], None] | None = None, info: DiTModelInfo | None = None) -> DiTModelInfo:
    """Sample every prompt (``steps`` Euler steps at CFG 1 from seeded noise) and record ``sites``.

    ``latent`` is a ComfyUI LATENT (its first item sets the shape). ``stream`` is img/txt/both.
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
        cond = encode(clip, prompt.text)
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
    sums: dict[Site, torch.Tensor] = {}
    counts: dict[Site, torch.Tensor] = {}
    n = len(prompts)

    def sink(i: int, site: Site, tokens: torch.Tensor, step: int) -> None:
        if site not in sums:
            sums[site] = torch.zeros(n, tokens.shape[-1], dtype=torch.float64)
            counts[site] = torch.zeros(n, dtype=torch.float64)
        sums[site][i] += tokens.to(torch.float64).sum(dim=0)
        counts[site][i] += tokens.shape[0]

    run_prompts(model, clip, prompts, latent, steps, seed, sites, stream, sink, progress)
    missing = [str(s) for s in sites if s not in sums]
    if missing:
        raise SafeSteerError(f"no activations were recorded at {', '.join(missing)} (stream {stream!r}); pick sites and "
                             "a stream this model has.")
    return {s: (sums[s] / counts[s].clamp_min(1).unsqueeze(1)).to(torch.float32) for s in sites}
