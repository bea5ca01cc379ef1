"""Pooled prompt encodings kept on disk, so a rerun (or another encoder pair) never encodes twice.

One SafeSteer file (kind ``PooledEncodings``) per (encoder name, layer, weight fingerprint, prefix,
max_length, pooling, k, prompt list): the file name is a hash of that key, and the key itself is in the
metadata and checked on read, so a changed prompt list, layer, pooling or checkpoint never reuses a
stale file. Files are safetensors read through :func:`steering_core.fileformat.read_safesteer_file`
(header validated first; nothing is unpickled).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Sequence

import torch

from .base import TextEncoder, encode_pooled, encoder_pooling
from ..errors import NonFiniteError, SafeSteerError, SafeSteerFileError
from ..files.format import FileHeader, encode_json, read_safesteer_file, write_safesteer_file

KIND = "PooledEncodings"


def prompts_sha256(prompts: Sequence[str]) -> str:
    """SHA-256 of the ordered prompt list (each prompt UTF-8, NUL-separated)."""
    digest = hashlib.sha256()
    for p in prompts:
        digest.update(p.encode("utf-8") + b"\0")
    return digest.hexdigest()


def cache_key(encoder: TextEncoder, prompts: Sequence[str], pooling: str, k: int = 5) -> dict[str, str]:
    """What identifies a pooled encoding: every field changes the vectors, so every field is in the key."""
    return {
        "encoder": str(getattr(encoder, "name", type(encoder).__name__)),
        "layer": str(getattr(encoder, "layer", "")),
        "fingerprint": str(getattr(encoder, "fingerprint", "")),
        "prefix": str(getattr(encoder, "prefix", "")),
        "max_length": str(getattr(encoder, "max_length", "")),
        "pooling": pooling,
        "k": str(k),
        "prompts_sha256": prompts_sha256(prompts),
        "n_prompts": str(len(prompts)),
    }


def cache_path(folder: str | Path, key: dict[str, str]) -> Path:
    """``folder/pooled-<first 16 hex of sha256(key)>.safetensors``."""
    return Path(folder) / f"pooled-{hashlib.sha256(encode_json(key).encode()).hexdigest()[:16]}.safetensors"


def _length_sorted(encoder: TextEncoder, prompts: Sequence[str], pooling: str, k: int, batch_size: int) -> torch.Tensor:
    """:func:`encode_pooled` with prompts batched by length (less padding to run through the model),
    rows returned in the caller's order. Padding is masked, so the vectors match unsorted batching up
    to float rounding."""
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    pooled = encode_pooled(encoder, [prompts[i] for i in order], pooling=pooling, k=k, batch_size=batch_size)
    out = torch.empty_like(pooled)
    out[torch.tensor(order)] = pooled
    return out


def cached_pooled(
    encoder: TextEncoder,
    prompts: Sequence[str],
    folder: str | Path,
    pooling: str = "auto",
    k: int = 5,
    batch_size: int = 32,
) -> tuple[torch.Tensor, bool]:
    """Pooled encodings ``[N, D]`` float32 of ``prompts`` (in order), read from ``folder`` when a file
    with the same key exists, else encoded and written there. Returns ``(vectors, was_cached)``.

    A file whose header or key does not match (damaged, another prompt list under a colliding name)
    is never used: it is re-encoded and replaced.
    """
    if not prompts:
        raise SafeSteerError("no prompts to encode.")
    pooling = encoder_pooling(encoder, pooling)
    key = cache_key(encoder, prompts, pooling, k)
    path = cache_path(folder, key)
    if path.is_file():
        def check(header: FileHeader) -> None:
            if any(header.metadata.get(f"pooled.{name}") != value for name, value in key.items()):
                raise header.fail("its encoder / pooling / prompt key differs from this run's", "it is re-encoded.")
            shape = header.tensors.get("vectors")
            if shape is None or len(shape.shape) != 2 or shape.shape[0] != len(prompts):
                raise header.fail(f"tensor 'vectors' is not [{len(prompts)}, D]", "it is re-encoded.")
            header.expect("vectors", (len(prompts), shape.shape[1]))

        try:
            tensors, _ = read_safesteer_file(path, expected_kind=KIND, check=check)
            return tensors["vectors"].to(torch.float32), True
        except (SafeSteerFileError, NonFiniteError):
            pass  # a stale or damaged file: encode again and overwrite it
    vectors = _length_sorted(encoder, prompts, pooling, k, batch_size)
    write_safesteer_file(path, KIND, {"vectors": vectors}, {f"pooled.{n}": v for n, v in key.items()}, overwrite=True)
    return vectors, False
