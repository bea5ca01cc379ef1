"""Tiny stand-ins for the real checkpoints a shipped workflow names, as a graph-edit plan for the UI.

The shipped workflows load multi-GB models that CI cannot have. Before queueing one in the browser,
each loader node is replaced by the test kit's tiny random-weight equivalent (the edit a user makes by
hand when they swap a loader), keeping every other node and link of the workflow:

* ``UNETLoader`` / the MODEL of ``CheckpointLoaderSimple`` -> ``SafeSteerTinyModel`` (arch by file name)
* ``CLIPLoader`` / ``DualCLIPLoader`` / ``TripleCLIPLoader`` / a checkpoint's CLIP -> ``SafeSteerTinyTextEncoder``
* ``VAELoader`` / a checkpoint's VAE -> ``SafeSteerTinyVAE`` (ComfyUI's VAE around a random TAESD/TAEHV)

and sizes are cut to what a CPU runs in seconds (64 px latents, 2 sampling steps, a short SAE run).
A checkpoint name missing from the tables below is an error that says where to add it.
"""

from __future__ import annotations

from typing import Any

#: Diffusion-model / checkpoint file -> tiny arch (tests/tiny_host_pack/tiny_models.ARCHS).
MODEL_FILES: dict[str, str] = {
    "flux1-dev.safetensors": "flux",
    "sd3.5_large.safetensors": "sd3",
    "qwen_image_fp8_e4m3fn.safetensors": "qwen_image",
    "wan2.1_t2v_1.3B_fp16.safetensors": "wan21",
}
#: CLIP loader ``type`` -> tiny text encoder kind (tiny_text_encoders.TEXT_ENCODERS): every kind
#: gives 64-wide tokens, the tiny DiTs' context width.
CLIP_TYPES: dict[str, str] = {"flux": "flux", "wan": "flux", "qwen_image": "qwen25", "sd3": "clip_l", "stable_diffusion": "clip_l"}
#: VAE file -> tiny arch for SafeSteerTinyVAE.
VAE_FILES: dict[str, str] = {
    "ae.safetensors": "flux",
    "qwen_image_vae.safetensors": "qwen_image",
    "wan_2.1_vae.safetensors": "wan21",
}
#: Widget values that make a graph CPU-sized: {node type: {widget name: value}}.
TINY_SIZES: dict[str, dict[str, Any]] = {
    "EmptySD3LatentImage": {"width": 64, "height": 64},
    "EmptyLatentImage": {"width": 64, "height": 64},
    "EmptyHunyuanLatentVideo": {"width": 64, "height": 64, "length": 5},
    "KSampler": {"steps": 2},
    "SafeSteerRankSites": {"pairs_per_category": 4, "steps": 2},
    "SafeSteerTrainSAE": {"pairs_per_category": 4, "steps": 2, "train_steps": 100},
}
LOADERS = ("UNETLoader", "CheckpointLoaderSimple", "CLIPLoader", "DualCLIPLoader", "TripleCLIPLoader", "VAELoader")


class UnknownCheckpoint(KeyError):
    """A workflow names a model file with no tiny stand-in."""


def _lookup(table: dict[str, str], key: str, what: str, table_name: str) -> str:
    if key not in table:
        raise UnknownCheckpoint(f"{what} {key!r} has no tiny stand-in: add it to tests/ui_standins.{table_name}.")
    return table[key]


def _tiny(node_type: str, **widgets: Any) -> dict[str, Any]:
    # every stand-in has a weights seed; "fixed" keeps it from changing after each queue
    return {"type": node_type, "widgets": {**widgets, "control_after_generate": "fixed"}, "slot": 0}


def standin_outputs(node: dict[str, Any]) -> dict[int, dict[str, Any]]:
    """{output slot: tiny node spec} for one loader node of a UI-format workflow."""
    kind, values = node["type"], node.get("widgets_values") or []
    if kind == "UNETLoader":
        return {0: _tiny("SafeSteerTinyModel", arch=_lookup(MODEL_FILES, values[0], "diffusion model", "MODEL_FILES"))}
    if kind == "CheckpointLoaderSimple":
        arch = _lookup(MODEL_FILES, values[0], "checkpoint", "MODEL_FILES")
        return {0: _tiny("SafeSteerTinyModel", arch=arch), 1: _tiny("SafeSteerTinyTextEncoder", kind="clip_l"),
                2: _tiny("SafeSteerTinyVAE", arch=arch)}
    if kind == "CLIPLoader":
        return {0: _tiny("SafeSteerTinyTextEncoder", kind=_lookup(CLIP_TYPES, values[1], "CLIP type", "CLIP_TYPES"))}
    if kind == "DualCLIPLoader":
        return {0: _tiny("SafeSteerTinyTextEncoder", kind=_lookup(CLIP_TYPES, values[2], "CLIP type", "CLIP_TYPES"))}
    if kind == "TripleCLIPLoader":
        return {0: _tiny("SafeSteerTinyTextEncoder", kind=CLIP_TYPES["sd3"])}
    if kind == "VAELoader":
        return {0: _tiny("SafeSteerTinyVAE", arch=_lookup(VAE_FILES, values[0], "VAE", "VAE_FILES"))}
    raise ValueError(f"{kind} is not a loader")


def tiny_plan(workflow: dict[str, Any]) -> dict[str, Any]:
    """The ``ui_js/edit_graph.js`` plan that swaps every loader of ``workflow`` for tiny stand-ins and
    cuts sizes (``TINY_SIZES``). Muted and bypassed nodes are edited too, so un-muting one later works."""
    replace, widgets = [], []
    for node in workflow["nodes"]:
        if node["type"] in LOADERS:
            replace.append({"id": str(node["id"]), "outputs": {str(k): v for k, v in standin_outputs(node).items()}})
        for name, value in TINY_SIZES.get(node["type"], {}).items():
            widgets.append({"id": str(node["id"]), "name": name, "value": value})
    return {"replace": replace, "widgets": widgets}


def checkpoint_names(workflow: dict[str, Any]) -> set[str]:
    """Every model file name the workflow's loaders ask for (what the missing-models dialog should list)."""
    names: set[str] = set()
    for node in workflow["nodes"]:
        if node["type"] in LOADERS:
            names.update(v for v in node.get("widgets_values") or [] if isinstance(v, str) and v.endswith(".safetensors"))
    return names
