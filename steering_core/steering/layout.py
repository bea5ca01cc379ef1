"""What DiT steering needs to know about one model, whichever host loaded it.

ComfyUI's adapter (``nodes/dit_adapter.py``) and the diffusers one (``steering_core.diffusers.families``)
each read a model into a :class:`ModelLayout` subclass that adds its own family entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import torch


@dataclass
class ModelLayout:
    """A DiT's block counts and sizes, and its text projection.

    ``num_double`` / ``num_single``: blocks of the first (joint or only) and second stack. ``hidden_size``:
    ``H`` of the block outputs. ``context_dim``: ``C`` of the text conditioning (None when unknown).
    ``project`` maps conditioning ``[..., C]`` to hidden ``[..., H]`` with the model's own modules (so
    patched and low-precision weights are honoured); None when the family's projection needs more than
    the conditioning (HunyuanVideo's token refiner, HiDream).
    """

    class_name: str
    num_double: int
    num_single: int
    hidden_size: int
    context_dim: int | None
    project: Callable[[torch.Tensor], torch.Tensor] | None


def chain_projection(modules: Sequence[torch.nn.Module], dtype: torch.dtype) -> Callable[[torch.Tensor], torch.Tensor]:
    """``x -> modules[-1](...modules[0](x.to(dtype)))``: a text projection made of the model's modules in order."""
    mods = list(modules)

    def project(x: torch.Tensor) -> torch.Tensor:
        y = x.to(dtype)
        for mod in mods:
            y = mod(y)
        return y

    return project
