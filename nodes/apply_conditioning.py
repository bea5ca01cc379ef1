"""Apply Safety Steering to CONDITIONING (the text encoder's output, before the generator)."""

from __future__ import annotations

from typing import Any

import torch
from comfy_api.latest import io

from steering_core import SafetyDirection, SteeringConfig, SteeringOp
from steering_core.errors import DimensionMismatchError

from .types import CATEGORY, SafetyDirectionType

MODES = ["gated", "add", "project_out"]
MAX_STRENGTH = 4.0
SCOPES = ["prompt", "token"]
STRENGTH_DOC = ("1.0 moves a prompt by one typical unsafe-to-safe gap (the distance between the mean safe and mean "
                "unsafe prompt along the direction, beta-calibrated after transport); 0 = off; above 2 overshoots.")


def steer_conditioning(conditioning: list[Any], op: SteeringOp, what: str) -> list[Any]:
    """A new conditioning list with each ``[B, T, C]`` tensor steered; the input list is not modified."""
    out = []
    for item in conditioning:
        cond = item[0]
        if not isinstance(cond, torch.Tensor) or cond.ndim != 3:
            raise ValueError(f"{what}: expected CONDITIONING tensors [B, T, C], got {type(cond).__name__}.")
        if cond.shape[-1] != op.dim:
            raise DimensionMismatchError(
                f"{what}: the direction has size {op.dim} but this conditioning has size {cond.shape[-1]} "
                f"(from a different text encoder). Estimate the direction with this encoder, or transport it with "
                f"Align Cross-Model + Transport Direction.")
        out.append([op(cond), dict(item[1])])
    return out


def conditioning_op(direction: SafetyDirection, strength: list[float] | float, mode: str, scope: str) -> SteeringOp:
    return SteeringOp(direction, SteeringConfig(mode=mode, strength=strength,
                                                gate_scope="sequence" if scope == "prompt" else "token"))


class ApplySafetySteering(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SafeSteerApplyConditioning",
            display_name="Apply Safety Steering",
            category=CATEGORY,
            description="Steer text conditioning along a safety direction (in that encoder's space). gated: only "
                        "prompts whose gate opens (score below the benign-calibrated threshold) move, benign prompts "
                        "stay bit-identical. " + STRENGTH_DOC,
            inputs=[
                io.Conditioning.Input("positive", tooltip="Positive conditioning (steered)."),
                SafetyDirectionType.Input("direction", tooltip="A direction in this conditioning's space."),
                io.Float.Input("strength", default=1.0, min=0.0, max=MAX_STRENGTH, step=0.05, round=0.001,
                               display_mode=io.NumberDisplay.slider, tooltip=STRENGTH_DOC),
                io.Combo.Input("mode", options=MODES, default="gated",
                               tooltip="gated: add only where the gate opens; add: always add; project_out: lift "
                                       "scores below the benign mean up to it."),
                io.Combo.Input("token_scope", options=SCOPES, default="prompt",
                               tooltip="prompt: the gate scores the whole prompt and moves all its tokens; token: "
                                       "each token is gated on its own score."),
                io.Conditioning.Input("negative", optional=True,
                                      tooltip="Negative conditioning; passed through unchanged unless steer_negative. Not linked: the negative output is an all-zero copy of the positive."),
                io.Boolean.Input("steer_negative", default=False, optional=True,
                                 tooltip="Also steer the negative conditioning (off: positive only)."),
            ],
            outputs=[io.Conditioning.Output(display_name="positive"), io.Conditioning.Output(display_name="negative")],
        )

    @classmethod
    def execute(cls, positive: list[Any], direction: SafetyDirection, strength: float, mode: str, token_scope: str,
                negative: list[Any] | None = None, steer_negative: bool = False) -> io.NodeOutput:
        if not 0.0 <= strength <= MAX_STRENGTH:
            raise ValueError(f"strength {strength} is outside 0-{MAX_STRENGTH:g} (a linked Safety Strength Sweep value?).")
        op = conditioning_op(direction, strength, mode, token_scope)
        pos = steer_conditioning(positive, op, "positive")
        neg = negative
        if negative is not None and steer_negative:
            neg = steer_conditioning(negative, op, "negative")
        if neg is None:  # nothing linked: an all-zero copy of the positive, a valid "empty" negative
            neg = [[torch.zeros_like(item[0]), {k: torch.zeros_like(v) if isinstance(v, torch.Tensor) else v
                                                for k, v in item[1].items()}] for item in positive]
        return io.NodeOutput(pos, neg)
