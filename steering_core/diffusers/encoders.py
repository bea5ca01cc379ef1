"""A :class:`~steering_core.encoders.TextEncoder` over a diffusers pipeline's own text encoders.

``encode`` returns exactly the conditioning the pipeline hands its transformer (``prompt_embeds``
``[N, T, C]`` from ``pipe.encode_prompt``: T5 for Flux, CLIP-L/G + T5 for SD3, UMT5 for Wan, Qwen2.5-VL
for Qwen-Image, T5 for LTX-Video), so a direction estimated on it lives in the space that
``steer_pipeline`` maps through the transformer's text projection, and its gates are calibrated on the
same pooled vectors the steering gates score. The mask is all True by default (the steering gates pool
every token the transformer receives, padding included); ``use_mask=True`` uses the pipeline's mask
where ``encode_prompt`` returns one.
"""

from __future__ import annotations

import inspect
from typing import Any, Sequence

import torch

from ..encoders.base import EncodedPrompts, weight_fingerprint
from ..errors import SafeSteerError

_ENCODER_ATTRS = ("text_encoder", "text_encoder_2", "text_encoder_3")


class PipelineTextEncoder:
    """Prompts -> the pipeline's ``prompt_embeds`` (float32, CPU).

    Args:
        pipe: a diffusers pipeline with ``encode_prompt``.
        max_sequence_length: passed on where ``encode_prompt`` takes it (T5 / UMT5 / Qwen padding length).
        use_mask: use the attention mask ``encode_prompt`` returns (Qwen-Image, LTX-Video) instead of all True.
        name: recorded in direction files (default: the pipeline class and its encoders' classes).
    """

    layer = "prompt_embeds"

    def __init__(self, pipe: Any, max_sequence_length: int | None = None, use_mask: bool = False,
                 name: str | None = None):
        if not callable(getattr(pipe, "encode_prompt", None)):
            raise SafeSteerError(f"{type(pipe).__name__} has no encode_prompt; give a diffusers text-to-image or "
                                 "text-to-video pipeline.")
        self.pipe = pipe
        self.max_sequence_length = max_sequence_length
        self.use_mask = use_mask
        encoders = [getattr(pipe, a) for a in _ENCODER_ATTRS if isinstance(getattr(pipe, a, None), torch.nn.Module)]
        if not encoders:
            raise SafeSteerError(f"{type(pipe).__name__} has no text encoder loaded.")
        self.name = name or f"{type(pipe).__name__}[{'+'.join(type(e).__name__ for e in encoders)}]"
        self.fingerprint = weight_fingerprint([(f"{i}.{k}", v) for i, e in enumerate(encoders)
                                               for k, v in e.state_dict().items()])
        self._params = set(inspect.signature(pipe.encode_prompt).parameters)
        self.hidden_size = int(self.encode(["a photo"]).hidden.shape[-1])

    def _kwargs(self, prompts: list[str]) -> dict[str, Any]:
        wanted: dict[str, Any] = {"prompt": prompts, "do_classifier_free_guidance": False, "num_images_per_prompt": 1,
                                  "num_videos_per_prompt": 1, "device": getattr(self.pipe, "device", None)}
        if self.max_sequence_length is not None:
            wanted["max_sequence_length"] = self.max_sequence_length
        for extra in ("prompt_2", "prompt_3"):
            wanted[extra] = None
        return {k: v for k, v in wanted.items() if k in self._params}

    @torch.no_grad()
    def encode(self, prompts: Sequence[str]) -> EncodedPrompts:
        batch = list(prompts)
        out = self.pipe.encode_prompt(**self._kwargs(batch))
        items = out if isinstance(out, (tuple, list)) else (out,)
        hidden = next((t for t in items if isinstance(t, torch.Tensor) and t.ndim == 3 and t.shape[0] == len(batch)),
                      None)
        if hidden is None:
            raise SafeSteerError(f"{type(self.pipe).__name__}.encode_prompt returned no [N, T, C] prompt embeddings.")
        mask = torch.ones(hidden.shape[:2], dtype=torch.bool)
        if self.use_mask:
            found = next((t for t in items if isinstance(t, torch.Tensor) and t.ndim == 2
                          and tuple(t.shape) == tuple(hidden.shape[:2]) and not t.is_floating_point()), None)
            if found is None:
                raise SafeSteerError(f"{type(self.pipe).__name__}.encode_prompt returns no attention mask; "
                                     "use use_mask=False.")
            mask = found.to("cpu").bool()
        return EncodedPrompts(hidden=hidden.to("cpu", torch.float32), mask=mask)
