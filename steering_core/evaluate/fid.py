"""Fréchet Inception Distance and the feature extractors it runs on (local weights only).

``FID = |mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2))`` between Gaussians fitted to two feature
sets (means, unbiased covariances ``ddof=1``, as pytorch-fid does). The trace of the matrix square
root is computed from eigenvalues: ``Tr((S1 S2)^(1/2)) = sum sqrt(eig(S1^(1/2) S2 S1^(1/2)))``, which is
exact for positive semi-definite covariances (also rank-deficient ones) and needs no scipy.

Feature extractors:

* ``inception:<file.safetensors>`` -- torchvision's ``inception_v3`` architecture with weights from a
  **safetensors** state dict (never a pickle), 2048-d pool features, images resized to 299x299
  (bilinear) and normalised with the ImageNet mean/std. Make the file once, with network access:
  ``python -c "import torchvision; from safetensors.torch import save_file; m = torchvision.models.inception_v3(weights='IMAGENET1K_V1'); save_file(m.state_dict(), 'inception_v3.safetensors')"``.
  These are torchvision's ImageNet weights, **not** the TF-Inception weights of pytorch-fid / clean-fid:
  numbers are comparable between SafeSteer runs, not with papers' FID.
* ``clip`` -- CLIP's projected image embeddings (not normalised) from ``--clip-model`` ("FID_CLIP").

Reference set: a folder of images (``--fid-reference``), else the images of the baseline strength
(0 when it is in the sweep, else the first strength): then FID measures how far steering moves the
image distribution from the unsteered one. FID from fewer images than the feature size is strongly
biased upwards; the report states the image counts.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..files.format import read_header
from .clip_models import as_pil, load_clip, resolve_device
from .errors import EvaluationError, MissingPackageError, MissingWeightsError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")


def gaussian_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and unbiased covariance of ``[N, D]`` features (N >= 2)."""
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise EvaluationError(f"FID needs at least 2 images per set, got features of shape {x.shape}.")
    return x.mean(axis=0), np.cov(x, rowvar=False, ddof=1).reshape(x.shape[1], x.shape[1])


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    sym = (matrix + matrix.T) / 2.0
    vals, vecs = np.linalg.eigh(sym)
    return (vecs * np.sqrt(np.clip(vals, 0.0, None))) @ vecs.T


def trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """``Tr((S1 S2)^(1/2))`` for PSD ``S1``, ``S2`` via the symmetric form ``S1^(1/2) S2 S1^(1/2)``."""
    root1 = _psd_sqrt(np.asarray(sigma1, dtype=np.float64))
    inner = root1 @ np.asarray(sigma2, dtype=np.float64) @ root1
    vals = np.linalg.eigvalsh((inner + inner.T) / 2.0)
    return float(np.sqrt(np.clip(vals, 0.0, None)).sum())


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """The Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2)."""
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, dtype=np.float64)), np.atleast_1d(np.asarray(mu2, dtype=np.float64))
    sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, dtype=np.float64)), np.atleast_2d(np.asarray(sigma2, dtype=np.float64))
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != (mu1.size, mu1.size):
        raise EvaluationError(f"FID: mismatched shapes mu {mu1.shape}/{mu2.shape}, sigma {sigma1.shape}/{sigma2.shape}.")
    diff = mu1 - mu2
    value = float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_sqrt_product(sigma1, sigma2))
    return max(value, 0.0)


def fid_from_features(features1: np.ndarray, features2: np.ndarray) -> float:
    return frechet_distance(*gaussian_stats(features1), *gaussian_stats(features2))


def list_images(folder: str | os.PathLike[str]) -> list[Path]:
    path = Path(folder).expanduser()
    if not path.is_dir():
        raise EvaluationError(f"FID reference folder {path} does not exist; check --fid-reference.")
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if len(files) < 2:
        raise EvaluationError(f"FID reference folder {path} holds {len(files)} image(s); it needs at least 2 ({', '.join(IMAGE_SUFFIXES)}).")
    return files


class InceptionFeatures:
    """torchvision ``inception_v3`` pool features (2048-d) from a safetensors state dict."""

    dim = 2048

    def __init__(self, weights: str | os.PathLike[str], device: str | None = None, batch_size: int = 32):
        self.path = Path(weights).expanduser()
        if not self.path.is_file():
            raise MissingWeightsError(
                f"FID inception weights {self.path} do not exist; expected torchvision's inception_v3 state dict saved as safetensors "
                "(see `python -m steering_core.evaluate --help` or the README for the one-line conversion)."
            )
        try:
            import torchvision
        except ImportError as exc:
            raise MissingPackageError("FID with inception features needs torchvision (pip install torchvision).") from exc
        from safetensors.torch import load_file

        read_header(self.path, max_bytes=1 << 30)  # a safetensors file of a sane size, checked before loading
        try:
            state = load_file(str(self.path))
        except Exception as exc:
            raise MissingWeightsError(f"FID inception weights {self.path} are not a readable safetensors file: {exc}") from exc
        aux = any(k.startswith("AuxLogits.") for k in state)
        model = torchvision.models.inception_v3(weights=None, aux_logits=aux, init_weights=False, transform_input=False)
        missing, unexpected = model.load_state_dict(state, strict=False)
        missing = [k for k in missing if not k.startswith("fc.")]
        if missing or unexpected:
            raise MissingWeightsError(
                f"{self.path} is not a torchvision inception_v3 state dict (missing {missing[:5]}..., unexpected {list(unexpected)[:5]}...)."
            )
        model.fc = torch.nn.Identity()
        self.device = resolve_device(device)
        self.model = model.to(self.device).eval()
        self.batch_size = batch_size
        h = hashlib.sha256()
        with open(self.path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        self.sha = h.hexdigest()
        self.name = "inception"

    def describe(self) -> str:
        return (f"torchvision inception_v3 pool features (2048-d), weights {self.path.name} (sha256 {self.sha[:12]}), "
                "299x299 bilinear, ImageNet mean/std")

    @torch.no_grad()
    def __call__(self, images: Sequence[Any]) -> np.ndarray:
        mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
        std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
        out = []
        for i in range(0, len(images), self.batch_size):
            batch = torch.stack([torch.from_numpy(np.asarray(as_pil(im), dtype=np.float32) / 255.0).permute(2, 0, 1)
                                 for im in _same_size(images[i:i + self.batch_size])])
            batch = torch.nn.functional.interpolate(batch, size=(299, 299), mode="bilinear", align_corners=False)
            batch = ((batch - mean) / std).to(self.device)
            out.append(self.model(batch).float().cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, self.dim))


def _same_size(images: Sequence[Any]) -> list[Any]:
    pils = [as_pil(im) for im in images]
    size = pils[0].size if pils else None
    return [p if p.size == size else p.resize(size) for p in pils]


class ClipFeatures:
    """CLIP projected image embeddings (not normalised) as FID features ("FID_CLIP")."""

    def __init__(self, clip_model: str | os.PathLike[str] | None, device: str | None = None):
        if clip_model is None:
            raise MissingWeightsError("FID with CLIP features needs a local CLIP folder (--clip-model).")
        self.clip = load_clip(clip_model, device, purpose="FID (CLIP features)")
        self.dim = self.clip.projection_dim
        self.name = "clip"

    def describe(self) -> str:
        return f"CLIP projected image embeddings ({self.dim}-d, not normalised) from {self.clip.folder}"

    def __call__(self, images: Sequence[Any]) -> np.ndarray:
        return self.clip.image_embeddings(list(images)).numpy().astype(np.float64)


def build_feature_extractor(spec: str, *, clip_model: str | os.PathLike[str] | None = None, device: str | None = None):
    """``inception:<weights.safetensors>`` or ``clip``."""
    kind, _, arg = spec.partition(":")
    kind = kind.strip().lower()
    if kind == "inception":
        if not arg:
            raise EvaluationError("FID inception features need their weights: --fid inception:/path/inception_v3.safetensors")
        return InceptionFeatures(arg, device)
    if kind == "clip":
        return ClipFeatures(clip_model, device)
    raise EvaluationError(f"unknown FID features {spec!r}: use inception:<weights.safetensors> or clip.")
