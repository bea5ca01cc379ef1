"""Multi-Category Steer (MODEL and CONDITIONING): one strength slider per category, every category gated."""

from __future__ import annotations

from typing import Any

from comfy_api.latest import io

from steering_core import CATEGORIES, GLOBAL, SafetyDirection
from steering_core.steering.dit import STREAMS
from steering_core.errors import SafeSteerError

from .apply_conditioning import STRENGTH_DOC, conditioning_op, steer_conditioning
from .dit_steer import DIT_STRENGTH_DOC, steer_model, window_inputs
from .types import CATEGORY, SafetyDirectionType

SLIDERS = (GLOBAL, *CATEGORIES)


def strength_inputs(doc: str, maximum: float) -> list[Any]:
    return [io.Float.Input(f"{name}_strength", default=0.0 if name == GLOBAL else 1.0, min=0.0, max=maximum,
                           step=0.05, round=0.001, display_mode=io.NumberDisplay.slider,
                           tooltip=f"Strength for '{name}' (0 = off). {doc}") for name in SLIDERS]


def per_category(direction: SafetyDirection, values: dict[str, float]) -> list[float]:
    """Strength per category of the direction; categories without a slider use 0 and must not be silently lost."""
    if direction.thresholds is None:
        raise SafeSteerError("Multi-Category Steer gates every category, but this direction has no gate thresholds. "
                             "Estimate it with Estimate Safety Direction (calibrates on benign anchors) or transport it.")
    known = [c for c in direction.categories if c in values]
    if not known:
        raise SafeSteerError(f"the direction's categories ({', '.join(direction.categories)}) have no slider here; "
                             f"sliders exist for {', '.join(SLIDERS)}. Use DiT Safety Steer / Apply Safety Steering.")
    return [float(values.get(c, 0.0)) for c in direction.categories]


def _values(kwargs: dict[str, Any]) -> dict[str, float]:
    return {name: float(kwargs[f"{name}_strength"]) for name in SLIDERS if f"{name}_strength" in kwargs}


class MultiCategorySteerModel(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SafeSteerMultiCategoryModel",
            display_name="Multi-Category Steer (Model)",
            category=CATEGORY,
            description="Gated DiT steering with one slider per category; each category's gate is calibrated on "
                        "benign anchors only, so benign prompts stay untouched. " + DIT_STRENGTH_DOC,
            inputs=[
                io.Model.Input("model", tooltip="The diffusion model to steer (a patched clone is returned)."),
                SafetyDirectionType.Input("direction", tooltip="A multi-category direction with calibrated gates."),
                *strength_inputs(DIT_STRENGTH_DOC, 10.0),
                io.String.Input("sites", default="all", tooltip="Blocks to steer, as in DiT Safety Steer."),
                io.Combo.Input("stream", options=list(STREAMS), default="both",
                               tooltip="Token stream to change."),
                *window_inputs(),
            ],
            outputs=[io.Model.Output(display_name="model")],
        )

    @classmethod
    def execute(cls, model: Any, direction: SafetyDirection, sites: str, stream: str, start_percent: float,
                end_percent: float, cond_only: bool, **strengths: Any) -> io.NodeOutput:
        values = per_category(direction, _values(strengths))
        return io.NodeOutput(steer_model(model, direction, values, "gated", sites, stream, start_percent,
                                         end_percent, cond_only, "conditioning", what="Multi-Category Steer (Model)"))


class MultiCategorySteerConditioning(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SafeSteerMultiCategoryConditioning",
            display_name="Multi-Category Steer (Conditioning)",
            category=CATEGORY,
            description="Gated conditioning steering with one slider per category; gates calibrated on benign "
                        "anchors only. " + STRENGTH_DOC,
            inputs=[
                io.Conditioning.Input("positive", tooltip="Positive conditioning (steered)."),
                SafetyDirectionType.Input("direction", tooltip="A multi-category direction with calibrated gates."),
                *strength_inputs(STRENGTH_DOC, 4.0),
            ],
            outputs=[io.Conditioning.Output(display_name="positive")],
        )

    @classmethod
    def execute(cls, positive: list[Any], direction: SafetyDirection, **strengths: Any) -> io.NodeOutput:
        values = per_category(direction, _values(strengths))
        return io.NodeOutput(steer_conditioning(positive, conditioning_op(direction, values, "gated", "prompt"),
                                                "positive"))
