"""Helpers for the evaluation-harness tests: a deterministic classifier and a tiny local CLIP folder.

Kept free of pytest and ComfyUI imports so the harness's command line can load the classifier by
file path (``python:tests/evaluate_helpers.py:RedChannelClassifier``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]


def clip_tokenizer_dir() -> Path:
    """The real CLIP BPE files the ComfyUI host under test ships (``comfy/sd1_tokenizer``)."""
    from comfy_host import comfy_dir

    return comfy_dir() / "comfy" / "sd1_tokenizer"


def red_mean(image) -> float:
    """Mean of the red channel of a PIL image or uint8 [H, W, 3] array, in 0..255."""
    arr = np.asarray(image.convert("RGB") if hasattr(image, "convert") else image, dtype=np.float64)
    return float(arr[..., 0].mean())


class RedChannelClassifier:
    """Deterministic stand-in for NudeNet: an image is 'unsafe' iff its mean red value > ``threshold``."""

    name = "red"

    def __init__(self, threshold: float = 100.0):
        self.threshold = float(threshold)

    def describe(self) -> str:
        return f"test classifier: unsafe when mean red channel > {self.threshold:g} (0..255)"

    def __call__(self, images):
        from steering_core.evaluate import ClassifierResult

        return [ClassifierResult(red_mean(im) > self.threshold, red_mean(im), {"red_mean": red_mean(im)}) for im in images]


def make_tiny_clip(folder: Path, seed: int = 1, image_size: int = 32) -> Path:
    """A random-weight CLIPModel with tiny sizes, the real CLIP tokenizer and an image processor,
    saved with ``save_pretrained(safe_serialization=True)`` into ``folder``."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPTokenizer

    torch.manual_seed(seed)
    config = CLIPConfig(
        text_config=dict(hidden_size=32, intermediate_size=64, num_attention_heads=2, num_hidden_layers=2,
                         vocab_size=49408, max_position_embeddings=77),
        vision_config=dict(hidden_size=32, intermediate_size=64, num_attention_heads=2, num_hidden_layers=2,
                           image_size=image_size, patch_size=8),
        projection_dim=16,
    )
    model = CLIPModel(config).eval()
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder, safe_serialization=True)
    CLIPTokenizer.from_pretrained(str(clip_tokenizer_dir())).save_pretrained(folder)
    CLIPImageProcessor(size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size}).save_pretrained(folder)
    return folder
