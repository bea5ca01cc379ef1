"""CLIP-score from a local CLIP folder.

Convention (stated in every report): per image, ``cos`` = cosine similarity between CLIP's projected
image embedding and projected text embedding of the item's prompt (truncated to the model's text
length, 77 tokens for OpenAI CLIP); **CLIP-score = 100 * max(cos, 0)**, the torchmetrics
``CLIPScore`` convention (papers reporting ~28-31). The raw cosine is reported too (papers reporting
~0.28-0.33, e.g. Poppi et al.). Means are over images.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from .clip_models import load_clip

CLIP_SCORE_CONVENTION = ("CLIP-score = 100 * max(cos, 0) per image (torchmetrics CLIPScore convention), mean over images; "
                         "'CLIP cos' = the raw cosine mean")


class ClipScorer:
    """``scorer(images, prompts)`` -> list of ``(cosine, clip_score)``."""

    def __init__(self, clip_model: str | os.PathLike[str], device: str | None = None):
        self.clip = load_clip(clip_model, device, purpose="CLIP-score")

    def describe(self) -> str:
        return f"{CLIP_SCORE_CONVENTION}; CLIP weights {self.clip.folder}, text truncated to {self.clip.max_text_tokens} tokens"

    def __call__(self, images: Sequence[Any], prompts: Sequence[str]) -> list[tuple[float, float]]:
        if len(images) != len(prompts):
            raise ValueError(f"{len(images)} images for {len(prompts)} prompts")
        img = self.clip.image_embeddings(images)
        txt = self.clip.text_embeddings(prompts)
        img = img / img.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        txt = txt / txt.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        cos = (img * txt).sum(-1)
        return [(float(c), float(100.0 * max(float(c), 0.0))) for c in cos]
