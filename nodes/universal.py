"""Universal Direction: the shared axis of 2 to 8 directions (SVD), in one space."""

from __future__ import annotations

from comfy_api.latest import io

from steering_core import SafetyDirection, universal_direction

from .common import describe
from .types import CATEGORY, SafetyDirectionType

MAX_INPUTS = 8


class UniversalDirection(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        optional = [SafetyDirectionType.Input(f"direction_{i}", optional=True,
                                              tooltip=f"Direction {i} (optional), same space as direction_1.")
                    for i in range(3, MAX_INPUTS + 1)]
        return io.Schema(
            node_id="SafeSteerUniversalDirection",
            display_name="Universal Direction",
            category=CATEGORY,
            description="First singular vector of 2-8 directions already in one space (e.g. transported from "
                        "several source encoders), per shared category, sign set by the majority.",
            inputs=[
                SafetyDirectionType.Input("direction_1", tooltip="Direction 1."),
                SafetyDirectionType.Input("direction_2", tooltip="Direction 2, same space as direction_1."),
                *optional,
            ],
            outputs=[SafetyDirectionType.Output(display_name="direction"), io.String.Output(display_name="summary")],
        )

    @classmethod
    def execute(cls, direction_1: SafetyDirection, direction_2: SafetyDirection,
                **more: SafetyDirection | None) -> io.NodeOutput:
        dirs = [direction_1, direction_2] + [more[f"direction_{i}"] for i in range(3, MAX_INPUTS + 1)
                                             if more.get(f"direction_{i}") is not None]
        result = universal_direction(dirs)
        return io.NodeOutput(result, describe(result))
