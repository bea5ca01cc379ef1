"""Which transformers of a diffusers pipeline run: ``transformer`` and, in Wan 2.2 (A14B) pipelines, a
low-noise expert ``transformer_2`` that runs the steps below ``boundary_ratio * num_train_timesteps``.

Either may be None (``WanPipeline`` lists both as optional components). Steering and monitoring hook every
expert that is set; a Safety SAE belongs to one model's weights, so SAE steering and training take one.
"""

from __future__ import annotations

from typing import Any

from ..errors import SafeSteerError

#: a pipeline's transformer attributes, in the order the pipeline runs them: Wan 2.2 (A14B) adds a
#: low-noise expert ``transformer_2`` for the steps below ``boundary_ratio``; either may be None
EXPERT_NAMES: tuple[str, ...] = ("transformer", "transformer_2")


def pipeline_experts(pipe: Any) -> list[str]:
    """The names of ``pipe``'s transformers that are set (``"transformer"``, ``"transformer_2"``)."""
    names = [n for n in EXPERT_NAMES if getattr(pipe, n, None) is not None]
    if not names:
        raise SafeSteerError(f"{type(pipe).__name__} has no transformer; SafeSteer steers diffusion-transformer "
                             "pipelines (for a U-Net pipeline steer prompt_embeds with steering_core.steer).")
    return names


def choose_expert(pipe: Any, expert: str, what: str) -> str:
    """The one transformer ``what`` applies to: ``expert`` itself, or with ``"auto"`` the only one set."""
    names = pipeline_experts(pipe)
    if expert == "auto":
        if len(names) == 1:
            return names[0]
        raise SafeSteerError(
            f"{type(pipe).__name__} has two transformers ({' and '.join(names)}: the high- and low-noise experts, "
            f"switched at boundary_ratio), and {what} belongs to one model's weights. Pass expert='transformer' or "
            "expert='transformer_2' (train one Safety SAE per expert to cover every step).")
    if expert not in names:
        raise SafeSteerError(f"expert {expert!r} is not a transformer of this {type(pipe).__name__}; it has "
                             f"{', '.join(names)}.")
    return expert
