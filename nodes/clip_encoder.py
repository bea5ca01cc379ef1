"""A ComfyUI CLIP (any text encoder ComfyUI loads, LLM encoders included) as a steering_core TextEncoder.

``encode`` returns exactly the conditioning tensor ComfyUI feeds the diffusion model
(``encode_from_tokens(..., return_dict=True)["cond"]``, ``[1, T, C]`` per prompt), so directions
estimated here live in the model's conditioning space and gate on it directly. Every token of that
tensor counts (padding included), because that is what the model sees; prompts of different
lengths are padded to a batch with a mask.

``kind`` is "decoder" when the CLIP holds one of ComfyUI's causal LLM transformers (any module
defined in ``comfy.text_encoders.llama``: Llama, Qwen2.5/3, Mistral, Gemma), else "encoder"; the
"auto" pooling of the nodes follows it (``steering_core.directions.pooling.default_pooling``).
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import torch

from steering_core.encoders.base import EncodedPrompts, weight_fingerprint


class ComfyTextEncoder:
    """Adapter from a ComfyUI ``comfy.sd.CLIP`` to :class:`steering_core.encoders.TextEncoder`."""

    layer = "conditioning"

    def __init__(self, clip: Any, progress: Callable[[int], None] | None = None):
        if not hasattr(clip, "tokenize") or not hasattr(clip, "encode_from_tokens"):
            raise TypeError("expected a ComfyUI CLIP (the output of a Load CLIP / checkpoint loader node).")
        self.clip = clip
        model = getattr(clip, "cond_stage_model", None)
        self.name = type(model).__name__ if model is not None else type(clip).__name__
        self._fingerprint: str | None = None
        self._hidden: int | None = None
        self.progress = progress

    @property
    def kind(self) -> str:
        """"decoder" when a causal LLM from ComfyUI's ``text_encoders.llama`` module runs inside, else "encoder"."""
        model = getattr(self.clip, "cond_stage_model", None)
        if model is not None and any(type(m).__module__.endswith("text_encoders.llama") for m in model.modules()):
            return "decoder"
        return "encoder"

    @property
    def fingerprint(self) -> str:
        if self._fingerprint is None:
            model = getattr(self.clip, "cond_stage_model", None)
            self._fingerprint = weight_fingerprint(model.state_dict()) if model is not None else ""
        return self._fingerprint

    @property
    def hidden_size(self) -> int:
        if self._hidden is None:
            self._hidden = int(self._encode_one("a photo").shape[-1])
        return self._hidden

    def _encode_one(self, prompt: str) -> torch.Tensor:
        out = self.clip.encode_from_tokens(self.clip.tokenize(prompt), return_dict=True)
        cond = out["cond"]
        return cond[0].detach().to("cpu", torch.float32)

    def encode(self, prompts: Sequence[str]) -> EncodedPrompts:
        states = []
        for prompt in prompts:
            states.append(self._encode_one(prompt))
            if self.progress is not None:
                self.progress(1)
        length = max(s.shape[0] for s in states)
        dim = states[0].shape[-1]
        hidden = torch.zeros(len(states), length, dim)
        mask = torch.zeros(len(states), length, dtype=torch.bool)
        for i, s in enumerate(states):
            hidden[i, : s.shape[0]] = s
            mask[i, : s.shape[0]] = True
        if self._hidden is None:
            self._hidden = int(dim)
        return EncodedPrompts(hidden=hidden, mask=mask)
