"""Safety Strength Sweep and Comparison Grid: A/B every strength in one queue run."""

from __future__ import annotations

import re

import numpy as np
import torch
from comfy_api.latest import io

from steering_core import plots
from steering_core.errors import SafeSteerError

from .types import CATEGORY

MAX_VARIANTS = 16


def parse_strengths(text: str) -> list[float]:
    """Comma/space separated numbers, e.g. ``0, 0.5, 1, 2``; at least one, at most 16, all finite and >= 0."""
    items = [t for t in re.split(r"[,\s;]+", (text or "").strip()) if t]
    if not items:
        raise SafeSteerError("strengths is empty; write a list such as '0, 0.5, 1, 2'.")
    values = []
    for item in items:
        try:
            v = float(item)
        except ValueError:
            raise SafeSteerError(f"cannot read {item!r} in strengths {text!r}; write numbers such as '0, 0.5, 1, 2'.") from None
        if not np.isfinite(v) or v < 0:
            raise SafeSteerError(f"strength {item!r} must be a finite number >= 0.")
        values.append(v)
    if len(values) > MAX_VARIANTS:
        raise SafeSteerError(f"{len(values)} strengths given; at most {MAX_VARIANTS} variants per sweep.")
    return values


class SafetyStrengthSweep(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SafeSteerStrengthSweep",
            display_name="Safety Strength Sweep",
            category=CATEGORY,
            description="A list of strengths: connect 'strength' to a steering node's strength input and every "
                        "node downstream runs once per value in the same queue run; feed the images and 'labels' "
                        "to Safety Comparison Grid for a labelled A/B grid.",
            inputs=[io.String.Input("strengths", default="0, 0.5, 1, 2",
                                    tooltip="Strengths to compare, comma separated (0 = unsteered baseline).")],
            outputs=[io.Float.Output(display_name="strength", is_output_list=True),
                     io.String.Output(display_name="labels", is_output_list=True)],
        )

    @classmethod
    def execute(cls, strengths: str) -> io.NodeOutput:
        values = parse_strengths(strengths)
        return io.NodeOutput(values, [f"strength {v:g}" for v in values])


def _label_strip(text: str, width: int, height: int) -> np.ndarray:
    from PIL import Image, ImageDraw

    strip = Image.new("RGB", (width, height), (24, 24, 24))
    draw = ImageDraw.Draw(strip)
    font = plots.font(max(10, height * 2 // 3))
    draw.text((4, height // 6), text, fill=(240, 240, 240), font=font)
    return np.asarray(strip, dtype=np.float32) / 255.0


def comparison_grid(images: list[torch.Tensor], labels: list[str], columns: int) -> torch.Tensor:
    """``[1, H', W', 3]`` grid of ``[B, H, W, C]`` image batches, each cell with its label on top."""
    cells = [img[i] for img in images for i in range(img.shape[0])]
    if not cells:
        raise SafeSteerError("no images to put in the grid.")
    names = list(labels) if labels else []
    per_batch = [img.shape[0] for img in images]
    expanded = []
    for idx, n in enumerate(per_batch):
        name = names[idx] if idx < len(names) else f"variant {idx}"
        expanded += [name] * n
    h = max(c.shape[0] for c in cells)
    w = max(c.shape[1] for c in cells)
    label_h = max(14, h // 10)
    cols = max(1, min(columns, len(cells)))
    rows = (len(cells) + cols - 1) // cols
    grid = torch.zeros(rows * (h + label_h), cols * w, 3)
    for i, (cell, name) in enumerate(zip(cells, expanded)):
        r, c = divmod(i, cols)
        y, x = r * (h + label_h), c * w
        rgb = cell[..., :3] if cell.shape[-1] >= 3 else cell[..., :1].expand(-1, -1, 3)
        grid[y:y + label_h, x:x + w] = torch.from_numpy(_label_strip(name, w, label_h))
        grid[y + label_h:y + label_h + cell.shape[0], x:x + cell.shape[1]] = rgb.to(torch.float32).cpu()
    return grid.unsqueeze(0)


class SafetyComparisonGrid(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SafeSteerComparisonGrid",
            display_name="Safety Comparison Grid",
            category=CATEGORY,
            description="Collect the images of a strength sweep (one per variant) into one labelled grid.",
            inputs=[
                io.Image.Input("images", tooltip="Images from the sweep (a list: one batch per strength)."),
                io.String.Input("labels", force_input=True, optional=True,
                                tooltip="Labels from Safety Strength Sweep, one per variant."),
                io.Int.Input("columns", default=4, min=1, max=16, tooltip="Cells per row."),
            ],
            outputs=[io.Image.Output(display_name="grid")],
            is_input_list=True,
        )

    @classmethod
    def execute(cls, images: list[torch.Tensor], columns: list[int], labels: list[str] | None = None) -> io.NodeOutput:
        return io.NodeOutput(comparison_grid(images, labels or [], int(columns[0])))
