"""Text encoders: the protocol and a transformers adapter."""

from .base import EncodedPrompts, TextEncoder, directions_from_pairs, encode_pooled, weight_fingerprint
from .hf import TransformersEncoder, minilm_path

__all__ = [
    "EncodedPrompts", "TextEncoder", "TransformersEncoder", "directions_from_pairs", "encode_pooled", "minilm_path",
    "weight_fingerprint",
]
