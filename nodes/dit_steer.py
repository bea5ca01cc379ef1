"""DiT Safety Steer (MODEL): steer token streams inside diffusion-transformer blocks within a sigma window."""

from __future__ import annotations

from typing import Any, Sequence

from comfy_api.latest import io

from steering_core import SafetyDirection
from steering_core.steering.dit import DIT_MODES, SPACES, STREAMS, DiTSteerConfig, DiTSteerer
from steering_core.steering.site_plans import DirectionPlanner
from steering_core.steering.sites import parse_sites

from .dit_adapter import inspect_model
from .dit_patch import install
from .types import CATEGORY, SafetyDirectionType

MAX_STRENGTH = 10.0
DIT_STRENGTH_DOC = ("1.0 shifts each steered token by what one unsafe-to-safe gap in the conditioning does to the "
                    "text stream entering the first block (mapped through the model's text projection); 0 = off.")


def steer_model(model: Any, direction: SafetyDirection, strength: float | Sequence[float], mode: str, sites: str,
                streams: str, start_percent: float, end_percent: float, cond_only: bool, space: str = "auto",
                what: str = "DiT Safety Steer") -> Any:
    """A steered clone of ``model`` (the core of both DiT nodes; ``what`` names the node in reports)."""
    values = list(strength) if isinstance(strength, (list, tuple)) else [strength]
    if any(not 0.0 <= float(v) <= MAX_STRENGTH for v in values):
        raise ValueError(f"strength {values} is outside 0-{MAX_STRENGTH:g} (a linked Safety Strength Sweep value?).")
    if end_percent < start_percent:
        raise ValueError(f"end_percent ({end_percent}) must not be below start_percent ({start_percent}).")
    info = inspect_model(model)
    chosen = parse_sites(sites, info.num_double, info.num_single)
    config = DiTSteerConfig(mode=mode, strength=strength, streams=streams, cond_only=cond_only, space=space)
    steerer = DiTSteerer(direction, config, info.hidden_size, info.context_dim)
    if steerer.space == "conditioning" and info.project is None:
        raise ValueError(
            f"{info.spec.name}'s text projection needs more than the conditioning, so a direction in the conditioning "
            f"space cannot be mapped into its blocks. Use Apply Safety Steering on the CONDITIONING for this model.")
    sampling = model.get_model_object("model_sampling")
    sigma_start = float(sampling.percent_to_sigma(start_percent))
    sigma_end = float(sampling.percent_to_sigma(end_percent))
    return install(model, info, DirectionPlanner(steerer, info.project, info.spec.text_projection_linear), chosen, streams, sigma_start, sigma_end, what=what)


def window_inputs() -> list[Any]:
    return [
        io.Float.Input("start_percent", default=0.0, min=0.0, max=1.0, step=0.01,
                       tooltip="Start of the steered part of sampling (0 = first step)."),
        io.Float.Input("end_percent", default=1.0, min=0.0, max=1.0, step=0.01,
                       tooltip="End of the steered part of sampling (1 = last step)."),
        io.Boolean.Input("cond_only", default=True,
                         tooltip="Steer only the conditional (positive) branch; the unconditional branch of CFG is "
                                 "left untouched."),
    ]


class DiTSafetySteer(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SafeSteerDiTSteer",
            display_name="DiT Safety Steer",
            category=CATEGORY,
            description="Steer inside DiT blocks (Flux, Chroma, SD3, Wan, HunyuanVideo, LTXV, LTX-2 AV, Qwen-Image, Lumina2, "
                        "HiDream). A direction from the model's text encoder is mapped through the model's own text "
                        "projection. add: shift tokens; gated: shift only prompts whose gate opens; project_out: lift "
                        "the negative (unsafe-side) component to zero. " + DIT_STRENGTH_DOC,
            inputs=[
                io.Model.Input("model", tooltip="The diffusion model to steer (a patched clone is returned)."),
                SafetyDirectionType.Input("direction", tooltip="In the model's conditioning or hidden space."),
                io.Float.Input("strength", default=1.0, min=0.0, max=MAX_STRENGTH, step=0.05, round=0.001,
                               display_mode=io.NumberDisplay.slider, tooltip=DIT_STRENGTH_DOC),
                io.Combo.Input("mode", options=list(DIT_MODES), default="gated",
                               tooltip="add / gated / project_out (see the node description)."),
                io.String.Input("sites", default="all",
                                tooltip="Blocks to steer: 'all', 'double:0-18', 'single:10-20', 'double:3, single:7' "
                                        "(single-stack models such as Wan use 'double' or 'blocks')."),
                io.Combo.Input("stream", options=list(STREAMS), default="both",
                               tooltip="Token stream to change: image tokens, text tokens, or both."),
                *window_inputs(),
                io.Combo.Input("space", options=list(SPACES), default="auto", optional=True,
                               tooltip="auto: hidden space if the direction's size equals the model's hidden size, "
                                       "else the conditioning space."),
            ],
            outputs=[io.Model.Output(display_name="model")],
        )

    @classmethod
    def execute(cls, model: Any, direction: SafetyDirection, strength: float, mode: str, sites: str, stream: str,
                start_percent: float, end_percent: float, cond_only: bool, space: str = "auto") -> io.NodeOutput:
        return io.NodeOutput(steer_model(model, direction, strength, mode, sites, stream, start_percent,
                                         end_percent, cond_only, space))
