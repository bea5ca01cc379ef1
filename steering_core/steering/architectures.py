"""Per-architecture facts about DiT generators that steering needs (no host imports).

Keyed by the class name of the diffusion model module (``type(model.diffusion_model).__name__`` in
ComfyUI). Each :class:`ArchSpec` says where the blocks are, which token streams a block returns,
how text and image tokens are laid out in single-stream blocks, and which module projects the text
conditioning into the hidden space.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..errors import SafeSteerError


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
        img_element: None when a block's ``img`` is one tensor ``[B, T, H]``; else the index of the
            steered stream inside the tuple ``img`` carries (LTX-2 AV: ``(video, audio)``, index 0).
        context_key: the block payload key holding the cross-attention context that "txt" steering
            edits when ``txt_output`` is False ("txt"; LTX-2 AV: "v_context", the video context).
        post_patch: for "hooks" families, the ``transformer_options["patches"]`` list a newer host
            calls after each block with the split streams ``{"img", "txt", "block_index"}`` (0.33's
            NextDiT: "double_block"); when the host calls it, it replaces the hooks. For "replace"
            families with ``img_span``, the list whose patch steers the img stream (see there).
        text_norm: attribute of an optional norm applied before ``text_projection``; when the model
            has that module (Flux 2's ``txt_norm``) it joins the projection, which is then non-linear.
        img_span: "" when a block's ``img`` holds only image/video tokens; "post_offset" when it also
            carries reference or pose tokens (0.33's Wan variants). The steered span is then
            ``[img_offset, img_offset + tokens of x)``, read from the payload the host hands its
            post-block patch (``post_patch``): ``img_offset`` counts the reference tokens before the
            video and ``x`` is the video latent the blocks denoise, so the img stream is steered there
            and every token outside the span stays bit-identical.
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
    img_element: int | None = None
    context_key: str = "txt"
    post_patch: str = ""
    text_norm: str = ""
    img_span: str = ""


FLUX = ArchSpec("Flux", "replace", "double_blocks", "single_blocks", True, "txt_first", "txt_in", True, "hidden_size",
                text_norm="txt_norm")
CHROMA = ArchSpec("Chroma", "replace", "double_blocks", "single_blocks", True, "txt_first", "txt_in", True, "hidden_size")
HUNYUAN_VIDEO = ArchSpec("HunyuanVideo", "replace", "double_blocks", "single_blocks", True, "img_first", "", False,
                         "hidden_size")
MMDIT = ArchSpec("SD3/MMDiT", "replace", "joint_blocks", "", True, "txt_first", "context_embedder", True, "hidden_size")
WAN = ArchSpec("Wan", "replace", "blocks", "", False, "txt_first", "text_embedding", False, "dim")
LTXV = ArchSpec("LTXV", "replace", "transformer_blocks", "", False, "txt_first", "caption_projection", False,
                "inner_dim")
#: LTX-2 audio-video: blocks take and return ``img = (video, audio)``; the video tokens are steered (the
#: audio tokens stay bit-identical); "txt" edits the video cross-attention context. Its conditioning
#: reaches the blocks through learned connectors, so directions must be in the video hidden space.
LTXAV = ArchSpec("LTX-2 AV", "replace", "transformer_blocks", "", False, "txt_first", "", False, "inner_dim",
                 img_element=0, context_key="v_context")
QWEN_IMAGE = ArchSpec("Qwen-Image", "replace", "transformer_blocks", "", True, "txt_first", "txt_norm+txt_in", False,
                      "inner_dim")
LUMINA2 = ArchSpec("Lumina2", "hooks", "", "layers", True, "txt_first", "cap_embedder", False, "dim",
                   post_patch="double_block")
#: Wan variants whose block ``img`` is [reference tokens | video tokens | pose tokens] (SCAIL: reference
#: frames before, pose tokens after; Animate 2: one reference slot frame before, its pose branch runs
#: beside the blocks; WanDancer: ``ref_conv`` reference tokens before). The video tokens are steered in
#: the post-block patch, whose payload names them; "txt" edits the cross-attention context as for Wan.
WAN_WITH_REFERENCES = ArchSpec("Wan with reference/pose tokens", "replace", "blocks", "", False, "txt_first",
                               "text_embedding", False, "dim", post_patch="double_block", img_span="post_offset")
HIDREAM = ArchSpec("HiDream", "hooks", "double_stream_blocks", "single_stream_blocks", True, "img_first", "", False,
                   "inner_dim")

#: Exact diffusion-model class name -> spec. Only classes whose blocks and block payloads were verified
#: on a tiny model built by ComfyUI (tests/test_dit_host.py, tests/test_dit_families.py) are listed: a
#: subclass is never matched through its parent, since it may run its blocks another way.
ARCHITECTURES: dict[str, ArchSpec] = {
    "Flux": FLUX,
    "Chroma": CHROMA,
    "ChromaRadiance": CHROMA,
    "HunyuanVideo": HUNYUAN_VIDEO,
    "OpenAISignatureMMDITWrapper": MMDIT,
    "WanModel": WAN,
    "VaceWanModel": WAN,
    "CameraWanModel": WAN,
    "HumoWanModel": WAN,
    "WanModel_S2V": WAN,
    "SCAILWanModel": replace(WAN_WITH_REFERENCES, name="Wan SCAIL"),
    "SCAIL2WanModel": replace(WAN_WITH_REFERENCES, name="Wan SCAIL-2"),
    "WanAnimate2Model": replace(WAN_WITH_REFERENCES, name="Wan Animate 2"),
    "WanDancerModel": replace(WAN_WITH_REFERENCES, name="WanDancer"),
    "LTXVModel": LTXV,
    "LTXAVModel": LTXAV,
    "QwenImageTransformer2DModel": QWEN_IMAGE,
    "NextDiT": LUMINA2,
    "NextDiTPixelSpace": replace(LUMINA2, name="Z-Image pixel space"),
    "HiDreamImageTransformer2DModel": HIDREAM,
}

#: Known DiT classes SafeSteer refuses, with the reason shown to the user.
REFUSED: dict[str, str] = {
    "CausalWanModel": "its autoregressive path runs the blocks without ComfyUI's block patch points",
    "Kandinsky5": ("its only block patch point fails in ComfyUI 0.33: the original block ComfyUI hands a "
                   "patches_replace['dit'] block patch calls TransformerDecoderBlock.forward with keywords x= and "
                   "context=, which it does not take (its parameters are visual_embed, text_embed), so any block "
                   "patch fails with a TypeError, and its forward calls no post-block patch"),
}


def supported_names() -> str:
    """Human list of supported families, for error messages."""
    seen: list[str] = []
    for spec in ARCHITECTURES.values():
        if spec.name not in seen:
            seen.append(spec.name)
    return ", ".join(seen)


def arch_for(class_names: list[str] | tuple[str, ...]) -> ArchSpec:
    """Spec for a diffusion-model class given its MRO names (the class itself first).

    Only the class itself is looked up: a subclass of a supported class (a new variant with its own
    forward) is refused with a message naming the parent, until it is verified and listed.
    """
    shown = class_names[0] if class_names else "an unknown model"
    if shown in ARCHITECTURES:
        return ARCHITECTURES[shown]
    if shown in REFUSED:
        why = REFUSED[shown]
    else:
        parent = next((n for n in class_names[1:] if n in ARCHITECTURES), None)
        why = (f"it is a variant of {parent} ({ARCHITECTURES[parent].name}) whose blocks SafeSteer has not verified"
               if parent else "it is not a diffusion transformer SafeSteer knows")
    raise SafeSteerError(
        f"SafeSteer cannot steer inside {shown}: {why}. Supported diffusion transformers are "
        f"{supported_names()} (classes {', '.join(ARCHITECTURES)}). "
        f"For other models use Apply Safety Steering on the CONDITIONING instead."
    )
