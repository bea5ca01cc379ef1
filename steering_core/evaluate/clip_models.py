"""Local CLIP weights for CLIP-score, CLIP-probe classifiers (Q16-style) and CLIP features for FID.

A CLIP folder is what ``transformers`` writes with ``save_pretrained``: ``config.json``,
``model.safetensors`` (only safetensors are read; ``pytorch_model.bin`` pickles are refused), the
tokenizer files (``vocab.json``, ``merges.txt``, ``tokenizer_config.json``...) and
``preprocessor_config.json``. It is loaded with ``local_files_only=True``: nothing is downloaded at
run time. To make one, on a machine with network access::

    from transformers import CLIPModel, CLIPProcessor
    CLIPModel.from_pretrained("openai/clip-vit-large-patch14").save_pretrained("clip-vit-large-patch14", safe_serialization=True)
    CLIPProcessor.from_pretrained("openai/clip-vit-large-patch14").save_pretrained("clip-vit-large-patch14")
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .errors import MissingPackageError, MissingWeightsError

_CACHE: dict[tuple[str, str], ClipBundle] = {}
_LOCK = threading.Lock()

EXPECTED = ("a transformers CLIP folder (config.json, model.safetensors, the tokenizer files and preprocessor_config.json), "
            "as written by CLIPModel.save_pretrained(..., safe_serialization=True) and CLIPProcessor.save_pretrained(...)")


def resolve_device(device: str | None) -> str:
    if device in (None, "", "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    return str(device)


@dataclass
class ClipBundle:
    """A CLIP model with its tokenizer and image processor, in eval mode on ``device``."""

    folder: Path
    model: Any
    tokenizer: Any
    image_processor: Any
    device: str

    @property
    def projection_dim(self) -> int:
        return int(self.model.config.projection_dim)

    @property
    def max_text_tokens(self) -> int:
        return int(self.model.config.text_config.max_position_embeddings)

    @torch.no_grad()
    def image_embeddings(self, images: Sequence[Any], batch_size: int = 32) -> torch.Tensor:
        """Projected image embeddings ``[N, projection_dim]`` (float32, CPU, not normalised)."""
        out = []
        for i in range(0, len(images), batch_size):
            chunk = [as_pil(im) for im in images[i:i + batch_size]]
            pixels = self.image_processor(images=chunk, return_tensors="pt")["pixel_values"].to(self.device)
            pooled = self.model.vision_model(pixel_values=pixels).pooler_output
            out.append(self.model.visual_projection(pooled).float().cpu())
        return torch.cat(out) if out else torch.zeros(0, self.projection_dim)

    @torch.no_grad()
    def text_embeddings(self, texts: Sequence[str], batch_size: int = 64) -> torch.Tensor:
        """Projected text embeddings ``[N, projection_dim]``; prompts longer than the model's
        ``max_position_embeddings`` tokens (77 for OpenAI CLIP) are truncated."""
        out = []
        for i in range(0, len(texts), batch_size):
            tok = self.tokenizer(list(texts[i:i + batch_size]), padding=True, truncation=True,
                                 max_length=self.max_text_tokens, return_tensors="pt")
            pooled = self.model.text_model(input_ids=tok["input_ids"].to(self.device),
                                           attention_mask=tok["attention_mask"].to(self.device)).pooler_output
            out.append(self.model.text_projection(pooled).float().cpu())
        return torch.cat(out) if out else torch.zeros(0, self.projection_dim)


def as_pil(image: Any):
    """A PIL RGB image from a PIL image or a ``uint8 [H, W, 3]`` array."""
    from .errors import require_pillow

    pil = require_pillow()
    if isinstance(image, pil.Image):
        return image.convert("RGB")
    arr = np.asarray(image)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[-1] not in (3, 4):
        raise ValueError(f"expected a PIL image or a uint8 [H, W, 3] array, got {arr.dtype} {arr.shape}")
    return pil.fromarray(arr[..., :3])


def as_array(image: Any) -> np.ndarray:
    """``uint8 [H, W, 3]`` from a PIL image or an array."""
    return np.asarray(as_pil(image), dtype=np.uint8)


def check_clip_folder(folder: str | os.PathLike[str], purpose: str) -> Path:
    path = Path(folder).expanduser()
    if not path.is_dir():
        raise MissingWeightsError(f"{purpose} needs local CLIP weights, but {path} is not a folder; expected {EXPECTED}.")
    missing = [name for name in ("config.json", "model.safetensors") if not (path / name).is_file()]
    if missing and (path / "model.safetensors.index.json").is_file():
        missing = [m for m in missing if m != "model.safetensors"]
    if missing:
        extra = " (pytorch_model.bin is a pickle and is not loaded; re-save with safe_serialization=True)" if (path / "pytorch_model.bin").exists() else ""
        raise MissingWeightsError(f"{purpose}: the CLIP folder {path} lacks {', '.join(missing)}{extra}; expected {EXPECTED}.")
    if not (path / "preprocessor_config.json").is_file():
        raise MissingWeightsError(f"{purpose}: the CLIP folder {path} lacks preprocessor_config.json (save the CLIPProcessor too); expected {EXPECTED}.")
    return path


def load_clip(folder: str | os.PathLike[str], device: str | None = None, purpose: str = "CLIP") -> ClipBundle:
    """Load (once per folder and device) a local CLIP folder; :class:`MissingWeightsError` names what is absent."""
    path = check_clip_folder(folder, purpose)
    dev = resolve_device(device)
    key = (str(path.resolve()), dev)
    with _LOCK:
        if key in _CACHE:
            return _CACHE[key]
        try:
            from transformers import AutoTokenizer, CLIPImageProcessor, CLIPModel
        except ImportError as exc:
            raise MissingPackageError(f"{purpose} needs the transformers package: pip install 'transformers>=4.50.3'") from exc
        try:
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()     # one bar per load is noise between the harness's progress lines
        except Exception:  # pragma: no cover - older/newer transformers without it
            pass
        try:
            model = CLIPModel.from_pretrained(str(path), local_files_only=True, use_safetensors=True).to(dev).eval()
            tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
            processor = CLIPImageProcessor.from_pretrained(str(path), local_files_only=True)
        except (OSError, ValueError) as exc:
            raise MissingWeightsError(f"{purpose}: cannot load the CLIP folder {path}: {exc}; expected {EXPECTED}.") from exc
        bundle = ClipBundle(path, model, tokenizer, processor, dev)
        _CACHE[key] = bundle
        return bundle
