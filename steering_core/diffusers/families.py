"""Per-family facts about diffusers transformers that steering needs (no diffusers import).

Keyed by the transformer's class name (``type(pipe.transformer).__name__`` or a base class in its MRO).
Each :class:`DiffusersFamily` says where the blocks are, how a block returns its token streams, and
which module maps the text conditioning ``[.., C]`` (what ``pipe.encode_prompt`` returns and the
transformer receives as ``encoder_hidden_states``) into the hidden space ``[.., H]``: the same module,
and so the same direction mapping, as ComfyUI's ``txt_in`` / ``context_embedder`` / ``text_embedding``
of the same model (see :mod:`steering_core.steering.dit`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from ..errors import SafeSteerError
from ..steering.layout import ModelLayout, chain_projection

#: How a block returns its streams: a tuple ordered (txt, img) or (img, txt); one image tensor
#: ("img": text is a cross-attention input, Wan / LTXV); or one tensor of [txt, img] tokens ("concat").
OUTPUTS: tuple[str, ...] = ("txt_img", "img_txt", "img", "concat")


@dataclass(frozen=True)
class DiffusersFamily:
    """What steering needs to know about one diffusers transformer family.

    Attributes:
        name: family name shown to users.
        double_blocks: attribute holding the two-stream (or only) block list ("double" sites).
        single_blocks: attribute holding single-stream blocks ("single" sites), or "".
        double_out, single_out: how those blocks return their streams (one of :data:`OUTPUTS`).
        text_projection: dotted attribute paths, joined by "+", of the modules mapping the conditioning
            into the hidden space, in order; "" when the projection needs more than the conditioning
            (HunyuanVideo's token refiner takes the timestep and mask: hidden-space directions only).
        text_projection_linear: True if that projection is affine (the mapped shift is context-free).
    """

    name: str
    double_blocks: str
    single_blocks: str = ""
    double_out: str = "txt_img"
    single_out: str = "txt_img"
    text_projection: str = ""
    text_projection_linear: bool = False

    @property
    def txt_output(self) -> bool:
        """True if double blocks return the text stream (else "txt" edits the context a block reads)."""
        return self.double_out != "img"


FLUX = DiffusersFamily("Flux", "transformer_blocks", "single_transformer_blocks", "txt_img", "txt_img",
                       "context_embedder", True)
FLUX2 = DiffusersFamily("Flux 2", "transformer_blocks", "single_transformer_blocks", "txt_img", "concat",
                        "context_embedder", True)
SD3 = DiffusersFamily("SD3", "transformer_blocks", "", "txt_img", "txt_img", "context_embedder", True)
WAN = DiffusersFamily("Wan", "blocks", "", "img", "img", "condition_embedder.text_embedder", False)
QWEN_IMAGE = DiffusersFamily("Qwen-Image", "transformer_blocks", "", "txt_img", "txt_img", "txt_norm+txt_in", False)
LTX_VIDEO = DiffusersFamily("LTX-Video", "transformer_blocks", "", "img", "img", "caption_projection", False)
HUNYUAN_VIDEO = DiffusersFamily("HunyuanVideo", "transformer_blocks", "single_transformer_blocks", "img_txt",
                                "img_txt", "", False)

#: transformer class name -> family. Subclasses are found through the MRO.
FAMILIES: dict[str, DiffusersFamily] = {
    "FluxTransformer2DModel": FLUX,
    "Flux2Transformer2DModel": FLUX2,
    "SD3Transformer2DModel": SD3,
    "WanTransformer3DModel": WAN,
    "QwenImageTransformer2DModel": QWEN_IMAGE,
    "LTXVideoTransformer3DModel": LTX_VIDEO,
    "HunyuanVideoTransformer3DModel": HUNYUAN_VIDEO,
}


def supported_classes() -> str:
    """Human list of supported transformer classes, for error messages."""
    return ", ".join(f"{cls} ({fam.name})" for cls, fam in FAMILIES.items())


def family_for(module: torch.nn.Module) -> DiffusersFamily:
    """The family of a diffusers transformer; SafeSteerError naming its class and the list otherwise."""
    for cls in type(module).__mro__:
        if cls.__name__ in FAMILIES:
            return FAMILIES[cls.__name__]
    raise SafeSteerError(
        f"SafeSteer cannot steer inside {type(module).__name__}: supported diffusers transformers are "
        f"{supported_classes()}. For other pipelines steer the prompt embeddings instead "
        f"(steering_core.steer on prompt_embeds)."
    )


@dataclass
class TransformerInfo(ModelLayout):
    """A diffusers transformer seen through the family table (``family``); the rest: :class:`ModelLayout`."""

    family: DiffusersFamily


def _submodule(root: torch.nn.Module, path: str) -> torch.nn.Module | None:
    mod: object = root
    for part in path.split("."):
        mod = getattr(mod, part, None)
    return mod if isinstance(mod, torch.nn.Module) else None


def _linears(mod: torch.nn.Module) -> list[torch.nn.Linear]:
    return [m for m in mod.modules() if isinstance(m, torch.nn.Linear)]


def blocks_of(transformer: torch.nn.Module, family: DiffusersFamily, kind: str) -> torch.nn.ModuleList | None:
    """The ``kind`` ("double" / "single") block list, or None when the family or model has none."""
    attr = family.double_blocks if kind == "double" else family.single_blocks
    blocks = getattr(transformer, attr, None) if attr else None
    return blocks if isinstance(blocks, torch.nn.ModuleList) else None


def inspect_transformer(transformer: torch.nn.Module) -> TransformerInfo:
    """Describe a diffusers transformer; SafeSteerError for unsupported classes."""
    family = family_for(transformer)
    double = blocks_of(transformer, family, "double")
    single = blocks_of(transformer, family, "single")
    if double is None:
        raise SafeSteerError(f"{type(transformer).__name__} has no block list {family.double_blocks!r}; this "
                             f"diffusers version lays the {family.name} transformer out differently.")
    mods = [_submodule(transformer, p) for p in family.text_projection.split("+")] if family.text_projection else []
    if any(m is None for m in mods):
        raise SafeSteerError(f"{type(transformer).__name__} has no text projection {family.text_projection!r}.")
    linears = [lin for m in mods for lin in _linears(m)]  # type: ignore[arg-type]
    hidden = getattr(transformer, "inner_dim", None)
    if not isinstance(hidden, int):
        config = getattr(transformer, "config", None)
        heads, head_dim = getattr(config, "num_attention_heads", None), getattr(config, "attention_head_dim", None)
        hidden = heads * head_dim if isinstance(heads, int) and isinstance(head_dim, int) else None
    if not isinstance(hidden, int):
        raise SafeSteerError(f"cannot tell the hidden size of {type(transformer).__name__}.")
    project: Callable[[torch.Tensor], torch.Tensor] | None = None
    context_dim = int(linears[0].in_features) if linears else None
    if mods:
        project = chain_projection(mods, linears[0].weight.dtype if linears else torch.float32)

    return TransformerInfo(family=family, class_name=type(transformer).__name__, num_double=len(double),
                           num_single=len(single) if single is not None else 0, hidden_size=int(hidden),
                           context_dim=context_dim, project=project)
