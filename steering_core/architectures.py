"""Per-architecture facts about DiT generators that steering needs (no host imports).

Keyed by the class name of the diffusion model module (``type(model.diffusion_model).__name__`` in
ComfyUI). Each :class:`ArchSpec` says where the blocks are, which token streams a block returns,
how text and image tokens are laid out in single-stream blocks, and which module projects the text
conditioning into the hidden space.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import SafeSteerError


@dataclass(frozen=True)
class ArchSpec:
    """What steering needs to know about one DiT family.

    Attributes:
        name: family name shown to users ("Flux", "Wan", ...).
        mechanism: "replace" (ComfyUI's ``patches_replace["dit"]`` block replacement) or "hooks"
            (scoped forward hooks on the block modules, added and removed around each call).
        double_blocks: attribute holding the two-stream (or only) block list.
        single_blocks: attribute holding single-stream blocks, or "" if none.
        txt_output: True if double blocks return the text stream (Flux, SD3, Qwen); False if text is
            only a cross-attention input (Wan, LTXV), where "txt" steering edits the context a
            block reads.
        single_layout: "txt_first" ([txt, img] tokens: Flux, Chroma, Lumina2) or "img_first"
            ([img, txt]: HunyuanVideo, HiDream) in single-stream blocks.
        text_projection: attribute path of the module mapping conditioning ``[.., C]`` to hidden
            ``[.., H]``, or "" when it cannot be called on the conditioning alone.
        text_projection_linear: True if that module is affine (then directions map exactly).
        hidden_attr: attribute holding the hidden size, or "" to read it from the projection.
    """

    name: str
    mechanism: str
    double_blocks: str
    single_blocks: str = ""
    txt_output: bool = True
    single_layout: str = "txt_first"
    text_projection: str = ""
    text_projection_linear: bool = False
    hidden_attr: str = ""


FLUX = ArchSpec("Flux", "replace", "double_blocks", "single_blocks", True, "txt_first", "txt_in", True, "hidden_size")
CHROMA = ArchSpec("Chroma", "replace", "double_blocks", "single_blocks", True, "txt_first", "txt_in", True, "hidden_size")
HUNYUAN_VIDEO = ArchSpec("HunyuanVideo", "replace", "double_blocks", "single_blocks", True, "img_first", "", False,
                         "hidden_size")
MMDIT = ArchSpec("SD3/MMDiT", "replace", "joint_blocks", "", True, "txt_first", "context_embedder", True, "hidden_size")
WAN = ArchSpec("Wan", "replace", "blocks", "", False, "txt_first", "text_embedding", False, "dim")
LTXV = ArchSpec("LTXV", "replace", "transformer_blocks", "", False, "txt_first", "caption_projection", False,
                "inner_dim")
QWEN_IMAGE = ArchSpec("Qwen-Image", "replace", "transformer_blocks", "", True, "txt_first", "txt_norm+txt_in", False,
                      "inner_dim")
LUMINA2 = ArchSpec("Lumina2", "hooks", "", "layers", True, "txt_first", "cap_embedder", False, "dim")
HIDREAM = ArchSpec("HiDream", "hooks", "double_stream_blocks", "single_stream_blocks", True, "img_first", "", False,
                   "inner_dim")

#: diffusion-model class name -> spec. Subclasses sharing a forward (Wan VACE/camera/HuMo, Chroma
#: Radiance) reuse their parent's entry.
ARCHITECTURES: dict[str, ArchSpec] = {
    "Flux": FLUX,
    "Chroma": CHROMA,
    "ChromaRadiance": CHROMA,
    "HunyuanVideo": HUNYUAN_VIDEO,
    "OpenAISignatureMMDITWrapper": MMDIT,
    "MMDiT": MMDIT,
    "WanModel": WAN,
    "VaceWanModel": WAN,
    "CameraWanModel": WAN,
    "HumoWanModel": WAN,
    "WanModel_S2V": WAN,
    "LTXVModel": LTXV,
    "QwenImageTransformer2DModel": QWEN_IMAGE,
    "NextDiT": LUMINA2,
    "HiDreamImageTransformer2DModel": HIDREAM,
}


def supported_names() -> str:
    """Human list of supported families, for error messages."""
    seen: list[str] = []
    for spec in ARCHITECTURES.values():
        if spec.name not in seen:
            seen.append(spec.name)
    return ", ".join(seen)


def arch_for(class_names: list[str] | tuple[str, ...]) -> ArchSpec:
    """Spec for the first known name in a class's MRO names; SafeSteerError naming the class otherwise."""
    for name in class_names:
        if name in ARCHITECTURES:
            return ARCHITECTURES[name]
    shown = class_names[0] if class_names else "an unknown model"
    raise SafeSteerError(
        f"SafeSteer cannot steer inside {shown}: supported diffusion transformers are {supported_names()}. "
        f"For other models use Apply Safety Steering on the CONDITIONING instead."
    )
