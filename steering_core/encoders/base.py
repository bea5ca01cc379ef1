"""The encoder protocol: prompts -> token hidden states + attention mask.

Any model can be a source or target of directions and alignments by implementing
:class:`TextEncoder`: a transformers model (:mod:`.hf`), a ComfyUI CLIP (the node pack's
adapter), or a custom script.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Protocol, Sequence, runtime_checkable

import torch

from ..directions.direction import SafetyDirection, estimate_category_directions
from ..errors import SafeSteerError
from ..directions.pooling import SinkDominatedWarning, massive_token_share, pool, resolve_pooling
from ..directions.prompts import PromptPair


@dataclass(frozen=True)
class EncodedPrompts:
    """Encoder output: ``hidden [N, T, D]`` float32 and ``mask [N, T]`` bool (True = real token)."""

    hidden: torch.Tensor
    mask: torch.Tensor


@runtime_checkable
class TextEncoder(Protocol):
    """What steering_core needs from a text model."""

    name: str
    """Human-readable model name stored in files (e.g. "all-MiniLM-L6-v2")."""
    layer: str
    """Which activations ``encode`` returns (e.g. "hidden_states[-1]")."""
    fingerprint: str
    """A hash of the weights (see :func:`weight_fingerprint`), or "" when unknown."""
    hidden_size: int
    # Optional: ``kind`` = "encoder" (bidirectional) or "decoder" (causal LLM) picks the "auto" pooling
    # (see steering_core.directions.pooling.default_pooling); an encoder without it counts as "encoder".

    def encode(self, prompts: Sequence[str]) -> EncodedPrompts:
        """Encode a batch of prompts."""
        ...


def encoder_pooling(encoder: object, pooling: str = "auto") -> str:
    """``pooling`` with "auto" resolved by the encoder's ``kind`` ("decoder" -> "robust_mean", else "mean")."""
    return resolve_pooling(pooling, getattr(encoder, "kind", None))


def encode_pooled(
    encoder: TextEncoder,
    prompts: Sequence[str],
    pooling: str = "auto",
    k: int = 5,
    batch_size: int = 32,
) -> torch.Tensor:
    """Encode prompts in batches and pool each to one vector: ``[N, D]`` float32.

    Batches keep memory bounded; pooling is per batch so padding never leaks between batches.
    ``pooling="auto"`` follows the encoder's kind (:func:`encoder_pooling`).
    """
    if not prompts:
        raise SafeSteerError("no prompts to encode.")
    pooling = encoder_pooling(encoder, pooling)
    chunks, shares = [], []
    for start in range(0, len(prompts), batch_size):
        batch = list(prompts[start:start + batch_size])
        encoded = encoder.encode(batch)
        if encoded.hidden.ndim != 3 or encoded.hidden.shape[0] != len(batch):
            raise SafeSteerError(
                f"encoder {encoder.name!r} returned hidden states of shape {tuple(encoded.hidden.shape)} for "
                f"{len(batch)} prompts; expected [N, T, D]."
            )
        chunks.append(pool(encoded.hidden.to(torch.float32), encoded.mask, pooling, k).cpu())
        if pooling in ("mean", "last_k"):
            shares.append(massive_token_share(encoded.hidden, encoded.mask).cpu())
    if shares and float(torch.cat(shares).median()) > 0.5:
        import warnings

        warnings.warn(
            f"{pooling} pooling of {getattr(encoder, 'name', 'this encoder')}: attention-sink / massive-activation tokens "
            f"carry {float(torch.cat(shares).median()):.0%} (median) of each pooled vector, so prompts look alike; "
            f"use pooling='robust_{pooling}' (or 'auto' with a decoder-kind encoder).", SinkDominatedWarning, stacklevel=2)
    return torch.cat(chunks)


def directions_from_pairs(
    encoder: TextEncoder,
    pairs: Mapping[str, Sequence[PromptPair]],
    pooling: str = "auto",
    k: int = 5,
    include_global: bool = True,
    orthogonalize: str | None = None,
    batch_size: int = 32,
) -> SafetyDirection:
    """Per-category safety directions from prompt pairs run through ``encoder``.

    ``pooling="auto"`` follows the encoder's kind; the direction records the resolved pooling.
    """
    pooling = encoder_pooling(encoder, pooling)
    data = {}
    for category, items in pairs.items():
        if not items:
            raise SafeSteerError(f"category {category!r} has no prompt pairs.")
        safe = encode_pooled(encoder, [p.safe for p in items], pooling, k, batch_size)
        unsafe = encode_pooled(encoder, [p.unsafe for p in items], pooling, k, batch_size)
        data[category] = (safe, unsafe)
    return estimate_category_directions(
        data, pooling=pooling, k=k, include_global=include_global, orthogonalize=orthogonalize,
        layer=encoder.layer, source_model=encoder.name, source_fingerprint=encoder.fingerprint,
    )


def weight_fingerprint(named_tensors: Mapping[str, torch.Tensor] | Sequence[tuple[str, torch.Tensor]], sample: int = 4096) -> str:
    """A short, stable hash of model weights: names, shapes, dtypes and a strided sample of values.

    Cheap enough for multi-GB models (at most ``sample`` values per tensor are read) while
    telling apart different checkpoints of one architecture.
    """
    import hashlib

    items = sorted(named_tensors.items() if isinstance(named_tensors, Mapping) else named_tensors, key=lambda kv: kv[0])
    digest = hashlib.sha256()
    for name, tensor in items:
        t = tensor.detach()
        digest.update(f"{name}|{tuple(t.shape)}|{t.dtype}".encode())
        flat = t.reshape(-1)
        if flat.numel():
            step = max(1, flat.numel() // sample)
            values = flat[::step][:sample].to("cpu", torch.float64)
            digest.update(values.numpy().tobytes())
    return "sha256:" + digest.hexdigest()[:16]
