"""Load / Save Safety Direction: ``.safetensors`` files in ``models/safety_directions``."""

from __future__ import annotations

import os

from comfy_api.latest import io

from steering_core import SafetyDirection
from steering_core.errors import SafeSteerError

from . import folders
from .common import describe
from .types import CATEGORY, SafetyDirectionType


def select_categories(direction: SafetyDirection, categories: str) -> SafetyDirection:
    names = [c.strip() for c in (categories or "").split(",") if c.strip()]
    if not names or names == ["all"]:
        return direction
    missing = [n for n in names if n not in direction.categories]
    if missing:
        raise SafeSteerError(f"categories {missing} are not in this direction; it has: {', '.join(direction.categories)}.")
    return direction.select(names)


class LoadSafetyDirection(io.ComfyNode):
    """Load a safety direction saved by Save Safety Direction (or steering_core) from models/safety_directions."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SafeSteerLoadDirection",
            display_name="Load Safety Direction",
            category=CATEGORY,
            description="Load a safety direction file (.safetensors) from models/safety_directions.",
            inputs=[
                io.Combo.Input("direction_name", options=folders.files(),
                               tooltip="A .safetensors safety direction in models/safety_directions."),
                io.String.Input("categories", default="all", optional=True,
                                tooltip="'all', or a comma list of categories to keep (e.g. 'sexual, violence')."),
            ],
            outputs=[SafetyDirectionType.Output(display_name="direction"), io.String.Output(display_name="summary")],
        )

    @classmethod
    def execute(cls, direction_name: str, categories: str = "all") -> io.NodeOutput:
        direction = SafetyDirection.load(folders.full_path(direction_name))
        direction = select_categories(direction, categories)
        return io.NodeOutput(direction, describe(direction))

    @classmethod
    def fingerprint_inputs(cls, direction_name: str, categories: str = "all") -> str:
        fingerprint = folders.DIRECTIONS.fingerprint(direction_name)
        return fingerprint if fingerprint.startswith("missing:") else f"{fingerprint}:{categories}"


class SaveSafetyDirection(io.ComfyNode):
    """Save a direction to models/safety_directions; an existing file is never overwritten (a counter is added)."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SafeSteerSaveDirection",
            display_name="Save Safety Direction",
            category=CATEGORY,
            description="Save a safety direction as .safetensors in models/safety_directions. Never overwrites: "
                        "if the name exists a numbered file is written instead.",
            inputs=[
                SafetyDirectionType.Input("direction", tooltip="The direction to save."),
                io.String.Input("filename", default="safety_direction",
                                tooltip="File name without extension; letters, digits, '-', '_' and '/' for sub-folders."),
            ],
            outputs=[io.String.Output(display_name="path")],
            is_output_node=True,
        )

    @classmethod
    def execute(cls, direction: SafetyDirection, filename: str) -> io.NodeOutput:
        path = folders.DIRECTIONS.new_file(folders.DIRECTIONS.clean_stem(filename))
        direction.save(path, overwrite=False)
        rel = os.path.relpath(path, folders.directory())
        return io.NodeOutput(path, ui={"text": [f"saved {rel}"]})
