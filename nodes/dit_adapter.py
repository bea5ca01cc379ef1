"""Find what DiT steering needs in a ComfyUI MODEL: its family, block counts, sizes, text projection."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

import torch

from steering_core.steering.architectures import ArchSpec, arch_for
from steering_core.steering.layout import ModelLayout, chain_projection
from steering_core.errors import SafeSteerError


@dataclass
class DiTModelInfo(ModelLayout):
    """A ComfyUI model seen through the architecture table (``spec``); the rest: :class:`ModelLayout`."""

    spec: ArchSpec


def diffusion_model_of(model: object) -> torch.nn.Module:
    """The ``diffusion_model`` module inside a ComfyUI ModelPatcher, with a clear error otherwise."""
    base = getattr(model, "model", None)
    dm = getattr(base, "diffusion_model", None)
    if not isinstance(dm, torch.nn.Module):
        raise SafeSteerError("expected a ComfyUI MODEL (a diffusion model loaded by a checkpoint or UNET loader).")
    return dm


def _modules(dm: torch.nn.Module, path: str) -> list[torch.nn.Module]:
    mods = []
    for name in path.split("+"):
        mod = getattr(dm, name, None)
        if not isinstance(mod, torch.nn.Module):
            return []
        mods.append(mod)
    return mods


def _in_features(mod: torch.nn.Module) -> int | None:
    for sub in mod.modules():
        if isinstance(sub, torch.nn.Linear):
            return int(sub.in_features)
    return None


def _out_features(mod: torch.nn.Module) -> int | None:
    last = None
    for sub in mod.modules():
        if isinstance(sub, torch.nn.Linear):
            last = int(sub.out_features)
    return last


def _compute_dtype(model: object) -> torch.dtype:
    base = getattr(model, "model", None)
    dtype = getattr(base, "manual_cast_dtype", None)
    if dtype is None and base is not None and hasattr(base, "get_dtype"):
        dtype = base.get_dtype()
    return dtype if dtype in (torch.float32, torch.float16, torch.bfloat16) else torch.float32


def _with_text_norm(spec: ArchSpec, dm: torch.nn.Module) -> ArchSpec:
    """The spec as this model runs it: a model carrying the optional pre-projection norm (Flux 2's
    ``txt_norm``) projects text through norm + projection, which is not affine."""
    if spec.text_norm and isinstance(getattr(dm, spec.text_norm, None), torch.nn.Module):
        return replace(spec, name=f"{spec.name} (with {spec.text_norm})",
                       text_projection=f"{spec.text_norm}+{spec.text_projection}", text_projection_linear=False)
    return spec


def inspect_model(model: object) -> DiTModelInfo:
    """Describe ``model`` (a ComfyUI ModelPatcher); SafeSteerError for unsupported families."""
    dm = diffusion_model_of(model)
    names = [cls.__name__ for cls in type(dm).__mro__]
    spec = _with_text_norm(arch_for(names), dm)
    double = getattr(dm, spec.double_blocks, None) if spec.double_blocks else None
    single = getattr(dm, spec.single_blocks, None) if spec.single_blocks else None
    num_double = len(double) if double is not None else 0
    num_single = len(single) if single is not None else 0
    mods = _modules(dm, spec.text_projection) if spec.text_projection else []
    hidden = getattr(dm, spec.hidden_attr, None) if spec.hidden_attr else None
    if not isinstance(hidden, int):
        hidden = _out_features(mods[-1]) if mods else None
    if not isinstance(hidden, int):
        raise SafeSteerError(f"cannot tell the hidden size of {names[0]}; please report this model to SafeSteer.")
    project: Callable[[torch.Tensor], torch.Tensor] | None = None
    context_dim = None
    if mods:
        context_dim = next((d for d in (_in_features(m) for m in mods) if d is not None), None)
        project = chain_projection(mods, _compute_dtype(model))

    return DiTModelInfo(spec=spec, class_name=names[0], num_double=num_double, num_single=num_single,
                        hidden_size=int(hidden), context_dim=context_dim, project=project)
