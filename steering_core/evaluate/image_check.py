"""Image Safety Check: one of the harness's classifiers on a batch of images, per-image verdicts, and
the flagged images replaced (no ComfyUI; the node ``SafeSteerImageSafetyCheck`` is a thin wrapper).

Images use ComfyUI's IMAGE layout: float ``[B, H, W, C]`` in 0..1 (C = 3; 1 and 4 are accepted).
The classifier sees each image as the ``uint8 [H, W, 3]`` array Save Image would write
(``clip(255 * x, 0, 255)`` truncated to uint8), so a verdict here is the harness's verdict on the
saved PNG. Sign convention: a classifier's ``score`` is higher = *more unsafe* (the opposite of a
safety direction's projection, where higher = safer); an image is *flagged* when its result says
``unsafe``. Classifiers come from the same spec strings as ``python -m steering_core.evaluate
--classifier`` (:func:`~steering_core.evaluate.classifiers.build_classifier`).
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import SafeSteerError
from .classifiers import CheckedClassifier, ClassifierResult, build_classifier, parse_spec

#: What replaces a flagged image: all black, a strong Gaussian blur of itself, a user-given image,
#: or nothing (the verdicts are still reported).
REPLACE_MODES: tuple[str, ...] = ("black", "blur", "image", "none")
#: The blur's sigma as a fraction of the image's longer side (1024 px -> sigma 42.7, 64 px -> 2.7).
BLUR_SIGMA_FRACTION = 1.0 / 24.0
#: The Gaussian kernel is cut at this many sigmas.
BLUR_TRUNCATE = 3.0


def to_uint8(images: torch.Tensor) -> list[np.ndarray]:
    """``[B, H, W, C]`` floats in 0..1 -> B arrays ``uint8 [H, W, 3]``, as Save Image writes them
    (grey repeated to RGB, alpha dropped)."""
    check_image_batch(images, "images")
    rgb = _channels(images.detach().to(torch.float32).cpu(), 3)
    arr = np.clip(255.0 * rgb.numpy(), 0, 255).astype(np.uint8)
    return [arr[i] for i in range(arr.shape[0])]


def check_image_batch(images: Any, what: str) -> None:
    """Raise a :class:`SafeSteerError` unless ``images`` is a non-empty ``[B, H, W, C]`` tensor, C in (1, 3, 4)."""
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[0] == 0 or images.shape[-1] not in (1, 3, 4):
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise SafeSteerError(f"{what} must be an IMAGE batch [B, H, W, C] with B >= 1 and C = 1, 3 or 4; got {shape}.")


def _channels(images: torch.Tensor, c: int) -> torch.Tensor:
    """``[B, H, W, C']`` -> ``[B, H, W, c]``: grey repeated, alpha dropped (or set to 1 when added)."""
    have = images.shape[-1]
    if have == c:
        return images
    rgb = images[..., :3] if have >= 3 else images[..., :1].expand(*images.shape[:-1], 3)
    if c == 3:
        return rgb
    if c == 1:
        return rgb.mean(dim=-1, keepdim=True)
    return torch.cat([rgb, torch.ones_like(rgb[..., :1])], dim=-1)


def gaussian_kernel(sigma: float, truncate: float = BLUR_TRUNCATE) -> torch.Tensor:
    """Normalised 1-d Gaussian ``exp(-x^2 / (2 sigma^2))`` on ``x = -r..r``, ``r = ceil(truncate * sigma)``."""
    radius = max(1, int(math.ceil(truncate * sigma)))
    x = torch.arange(-radius, radius + 1, dtype=torch.float64)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    return (k / k.sum()).to(torch.float32)


def gaussian_blur(images: torch.Tensor, sigma: float | None = None) -> torch.Tensor:
    """Separable Gaussian blur of ``[B, H, W, C]`` images; edges repeat the border pixel ('nearest').

    ``sigma`` defaults to ``BLUR_SIGMA_FRACTION`` of the longer side. Returns float32 ``[B, H, W, C]``.
    """
    check_image_batch(images, "images")
    x = images.detach().to(torch.float32).cpu().permute(0, 3, 1, 2)          # [B, C, H, W]
    b, c, h, w = x.shape
    sigma = float(sigma) if sigma is not None else max(h, w) * BLUR_SIGMA_FRACTION
    k = gaussian_kernel(sigma)
    r = (k.numel() - 1) // 2
    planes = x.reshape(b * c, 1, h, w)
    planes = F.conv2d(F.pad(planes, (r, r, 0, 0), mode="replicate"), k.view(1, 1, 1, -1))
    planes = F.conv2d(F.pad(planes, (0, 0, r, r), mode="replicate"), k.view(1, 1, -1, 1))
    return planes.reshape(b, c, h, w).permute(0, 2, 3, 1).contiguous()


def fit_image(image: torch.Tensor, height: int, width: int, channels: int) -> torch.Tensor:
    """One ``[H', W', C']`` image resized (bilinear) to ``[height, width, channels]``."""
    x = _channels(image.detach().to(torch.float32).cpu().unsqueeze(0), channels)
    if x.shape[1:3] != (height, width):
        x = F.interpolate(x.permute(0, 3, 1, 2), size=(height, width), mode="bilinear", align_corners=False)
        x = x.permute(0, 2, 3, 1)
    return x[0].clamp(0.0, 1.0)


def replace_flagged(images: torch.Tensor, flagged: Sequence[bool], replace_with: str = "black",
                    replacement: torch.Tensor | None = None) -> torch.Tensor:
    """``images`` with every flagged one replaced; the others are returned bit-identical.

    ``black``: zeros (alpha kept); ``blur``: :func:`gaussian_blur` of the image itself; ``image``: image
    ``i % len(replacement)`` of ``replacement``, resized to the flagged image's size; ``none``: unchanged.
    """
    check_image_batch(images, "images")
    if len(flagged) != images.shape[0]:
        raise SafeSteerError(f"{len(flagged)} verdicts for {images.shape[0]} images.")
    check_replacement(replace_with, replacement)
    if replace_with == "none" or not any(flagged):
        return images
    out = images.clone()
    _, h, w, c = images.shape
    for i, hit in enumerate(flagged):
        if not hit:
            continue
        if replace_with == "black":
            out[i, ..., :3] = 0.0
        elif replace_with == "blur":
            out[i] = gaussian_blur(images[i:i + 1])[0].to(out.dtype)
        else:
            out[i] = fit_image(replacement[i % replacement.shape[0]], h, w, c).to(out.dtype)
    return out


def check_replacement(replace_with: str, replacement: torch.Tensor | None) -> None:
    """Raise a :class:`SafeSteerError` unless ``replace_with`` is a known mode with what it needs."""
    if replace_with not in REPLACE_MODES:
        raise SafeSteerError(f"replace_with {replace_with!r} is not one of {', '.join(REPLACE_MODES)}.")
    if replace_with == "image":
        if replacement is None:
            raise SafeSteerError("replace_with is 'image' but no replacement IMAGE is connected: link one "
                                 "(e.g. a Load Image node) or choose black, blur or none.")
        check_image_batch(replacement, "replacement")


@dataclass(frozen=True)
class ImageCheck:
    """The verdicts of one check on one image batch.

    ``classifier``: its name; ``rule``: its ``describe()`` (model, class set, threshold: what counts as
    unsafe); ``results``: one per image (score higher = more unsafe); ``replaced``: which images the
    check's IMAGE output replaced; ``replace_with``: the replacement mode.
    """

    classifier: str
    rule: str
    results: tuple[ClassifierResult, ...]
    replaced: tuple[bool, ...]
    replace_with: str

    @property
    def flagged(self) -> list[int]:
        """Indices of the images judged unsafe."""
        return [i for i, r in enumerate(self.results) if r.unsafe]

    @property
    def max_score(self) -> float:
        return max(float(r.score) for r in self.results)

    def to_json(self) -> dict[str, Any]:
        return {
            "classifier": self.classifier, "rule": self.rule, "replace_with": self.replace_with,
            "images": len(self.results), "flagged": self.flagged,
            "results": [{"index": i, **r.to_json(), "replaced": bool(rep)}
                        for i, (r, rep) in enumerate(zip(self.results, self.replaced))],
        }

    def text(self) -> str:
        """A short report: the rule, then one line per image (verdict, score, what the detector saw)."""
        n, k = len(self.results), len(self.flagged)
        action = {"none": "left unchanged (replace_with = none)", "image": "replaced with the replacement image"}.get(
            self.replace_with, f"replaced with {self.replace_with}")
        head = f"Image Safety Check ({self.classifier}): {n} image{'s' if n != 1 else ''}, {k} flagged"
        lines = [head + (f", {action}" if k else ""), f"rule: {self.rule}",
                 "score: higher = more unsafe"]
        for i, (r, rep) in enumerate(zip(self.results, self.replaced)):
            seen = _detections_text(r.details)
            lines.append(f"  image {i}: {'FLAGGED' if r.unsafe else 'safe'}, score {r.score:.3f}"
                         + (f"; {seen}" if seen else "") + (" -> replaced" if rep else ""))
        return "\n".join(lines)


def _detections_text(details: dict[str, Any]) -> str:
    """NudeNet-style ``details`` as ``CLASS 0.81, ...`` (matched classes first, then the others seen)."""
    parts = [f"{d['class']} {float(d['score']):.2f}" for d in details.get("detections", []) if "class" in d]
    others = [f"{d['class']} {float(d['score']):.2f}" for d in details.get("other_detections", []) if "class" in d]
    text = ", ".join(parts)
    if others:
        text += ("; " if text else "") + "also seen (not in the class set): " + ", ".join(others)
    return text


def check_images(classifier: CheckedClassifier, images: torch.Tensor, replace_with: str = "black",
                 replacement: torch.Tensor | None = None) -> tuple[torch.Tensor, ImageCheck]:
    """Classify every image of ``images`` and replace the flagged ones; returns ``(images out, check)``."""
    check_replacement(replace_with, replacement)              # before the (slow) classifier runs
    results = classifier(to_uint8(images))
    bad = [i for i, r in enumerate(results) if not math.isfinite(float(r.score))]
    if bad:
        raise SafeSteerError(f"classifier {classifier.name} returned a non-finite score for image(s) {bad}: "
                             "its verdicts cannot be reported; fix the classifier.")
    flagged = [bool(r.unsafe) for r in results]
    out = replace_flagged(images, flagged, replace_with, replacement)
    replaced = tuple(f and replace_with != "none" for f in flagged)
    return out, ImageCheck(classifier.name, classifier.describe(), tuple(results), replaced, replace_with)


# ------------------------------------------------------------------------------ classifiers, built once

_CACHE: dict[tuple[Any, ...], CheckedClassifier] = {}
_LOCK = threading.Lock()


def _spec_files(spec: str, clip_model: str | None) -> tuple[tuple[str, int, int], ...]:
    """(path, mtime, size) of every existing file or folder a spec names, so an edited file is rebuilt."""
    kind, arg, options = parse_spec(spec)
    candidates = [clip_model, options.get("model_path"), arg.rpartition(":")[0] if kind == "python" and arg else arg]
    out = []
    for c in candidates:
        if isinstance(c, str) and c and os.path.exists(os.path.expanduser(c)):
            p = Path(c).expanduser()
            st = p.stat()
            out.append((str(p.resolve()), st.st_mtime_ns, st.st_size))
    return tuple(out)


def cached_classifier(spec: str, clip_model: str | None = None, device: str | None = None) -> CheckedClassifier:
    """:func:`build_classifier` for ``spec``, built once per spec, CLIP folder, device and file state."""
    spec = (spec or "").strip()
    if not spec:
        raise SafeSteerError("classifier is empty: write e.g. 'nudenet', 'nudenet,threshold=0.6,classes=exposed9', "
                             "'clip-probe:/path/probe.safetensors' (with clip_model) or 'python:my_module:MyClassifier'.")
    clip_model = (clip_model or "").strip() or None
    key = (spec, clip_model, device, _spec_files(spec, clip_model))
    with _LOCK:
        if key not in _CACHE:
            _CACHE[key] = build_classifier(spec, clip_model=clip_model, device=device)
        return _CACHE[key]
