"""``train_safety_sae(pipe, ...)``: the Train Safety SAE node's pipeline on a diffusers pipeline.

The same core function (:func:`steering_core.sae.pipeline.train_safety_sae`), settings, defaults,
resumable work folder and Safety SAE file as the ComfyUI node; only the activation source differs
(:class:`~.source.PipelineActivationSource`). The file drives :func:`~.pipeline.sae_blend_repel_pipeline`
here and *SAE Blend/Repel* in ComfyUI.
"""

from __future__ import annotations

import os
from typing import Any, Mapping, Sequence

from ..errors import SafeSteerError
from ..directions.prompts import PromptPair, all_category_pairs, anchor_prompts
from ..sae.pipeline import Progress, TrainedSafetySAE
from ..sae.pipeline import train_safety_sae as run_pipeline
from .experts import choose_expert
from .source import PipelineActivationSource


def train_safety_sae(pipe: Any, directory: str | os.PathLike[str], filename: str = "safety_sae", *,
                     pairs: Mapping[str, Sequence[PromptPair]] | None = None, pairs_per_category: int = 16,
                     sites: str = "auto:4", stream: str = "img", expansion: int = 16, k: int = 32,
                     train_steps: int = 2000, tokens_per_step: int = 64, n_harmful: int = 16, steps: int = 4,
                     seed: int = 0, source_categories: Sequence[str] | None = None, adapt_to: str = "none",
                     resume: bool = True, progress: Progress | None = None,
                     call_kwargs: Mapping[str, Any] | None = None, expert: str = "auto") -> TrainedSafetySAE:
    """Harvest ``pipe.transformer``'s block activations on prompt pairs, train a TopK SAE per site, choose the
    harmful features, optionally adapt the decoders, and save ``<directory>/<filename>.safetensors``.

    Defaults are the node's. ``pairs``: safe / unsafe pairs per category (default: every shipped category),
    the first ``pairs_per_category`` of each used. ``call_kwargs`` go to every ``pipe(...)`` call (e.g.
    ``height=256, width=256``: smaller is faster). The result's ``sae`` is the file loaded back, ``path``
    the file, ``reused`` True when a file trained with the same settings on the same weights was found.
    ``expert``: the transformer to train on; "auto" is the pipeline's only one (a two-expert Wan 2.2
    pipeline must name ``"transformer"`` or ``"transformer_2"``: one SAE per expert, each harvested on the
    steps that expert runs). Everything else: :func:`steering_core.sae.pipeline.train_safety_sae`.
    """
    if pairs_per_category < 2:
        raise SafeSteerError(f"pairs_per_category must be at least 2, got {pairs_per_category}.")
    chosen = {c: list(p)[:pairs_per_category] for c, p in (pairs if pairs is not None else all_category_pairs()).items()}
    source = PipelineActivationSource(pipe, call_kwargs, expert=choose_expert(pipe, expert, "a Safety SAE"))
    return run_pipeline(source, chosen, directory, filename, sites=sites, stream=stream, expansion=expansion, k=k,
                        train_steps=train_steps, tokens_per_step=tokens_per_step, n_harmful=n_harmful, steps=steps,
                        seed=seed, source_categories=source_categories, adapt_to=adapt_to,
                        anchors=anchor_prompts()[: max(8, 2 * pairs_per_category)], resume=resume, progress=progress,
                        file_info={"prompt_set": "custom" if pairs is not None else "all categories",
                                   "pairs_per_category": pairs_per_category})
