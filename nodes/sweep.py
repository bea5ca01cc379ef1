"""Safety Strength Sweep and Comparison Grid: A/B every strength in one queue run.

The grid is an output node: besides its labelled grid IMAGE it saves the grid and every variant's
first image to ComfyUI's temp folder (through ComfyUI's ``ui.PreviewImage``) and returns them in its ui, ``images`` (the
grid: the node's own preview) and ``safesteer_ab`` (one entry per variant: index, label, caption,
strength, score, score_first, delta, detector, flagged, checked, detector_score, image), which ``web/js/safesteer_ab_compare.js`` turns into
the A/B compare view. Scores come from ``steering_core.evidence.ab_compare``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import numpy as np
import torch
from comfy_api.latest import io, ui

from steering_core.evidence.ab_compare import caption, check_batch_sizes, label_strip, variant_scores
from steering_core.errors import SafeSteerError
from steering_core.evidence.monitor import SafetyMonitorLog

from .monitor import SafetyMonitorType
from .types import CATEGORY, ImageSafetyCheckType

if TYPE_CHECKING:
    from steering_core.evaluate.image_check import ImageCheck

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
        grid[y:y + label_h, x:x + w] = torch.from_numpy(label_strip(name, w, label_h))
        grid[y + label_h:y + label_h + cell.shape[0], x:x + cell.shape[1]] = _rgb(cell)
    return grid.unsqueeze(0)


def _rgb(cell: torch.Tensor) -> torch.Tensor:
    """``[H, W, C]`` -> ``[H, W, 3]`` float32 on the CPU (grey images repeated, alpha dropped)."""
    rgb = cell[..., :3] if cell.shape[-1] >= 3 else cell[..., :1].expand(-1, -1, 3)
    return rgb.to(torch.float32).cpu()


class SafetyComparisonGrid(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SafeSteerComparisonGrid",
            display_name="Safety Comparison Grid",
            category=CATEGORY,
            description="Collect the images of a strength sweep (one per variant) into one labelled grid, and show "
                        "an A/B compare view in the node (wipe slider; click a variant for B, shift-click for A). "
                        "Link the sweep's 'strength' and a Safety Monitor's 'monitor' (placed after the steering "
                        "node) to label every variant with its safety score (higher = safer) and its change from "
                        "the first variant. Link an Image Safety Check's 'check' to show each variant's "
                        "detector verdict too.",
            inputs=[
                io.Image.Input("images", tooltip="Images from the sweep (a list: one batch per strength)."),
                io.String.Input("labels", force_input=True, optional=True,
                                tooltip="Labels from Safety Strength Sweep, one per variant."),
                io.Int.Input("columns", default=4, min=1, max=16, tooltip="Cells per row."),
                io.Float.Input("strength", force_input=True, optional=True,
                               tooltip="The sweep's 'strength' output (one value per variant), shown in the "
                                       "compare view."),
                SafetyMonitorType.Input("monitor", optional=True,
                                        tooltip="From a Safety Monitor between the steering node and the sampler "
                                                "(it runs once per strength): each variant's safety score is the "
                                                "cond score at the last step, mean over sites; higher = safer."),
                ImageSafetyCheckType.Input("safety_check", optional=True,
                                           tooltip="From an Image Safety Check on the same images (it runs once per "
                                                   "strength): each variant shows the detector's verdict and its "
                                                   "highest score (higher = more unsafe) beside its safety score."),
            ],
            outputs=[io.Image.Output(display_name="grid")],
            is_input_list=True,
            is_output_node=True,
        )

    @classmethod
    def execute(cls, images: list[torch.Tensor], columns: list[int], labels: list[str] | None = None,
                strength: list[float] | None = None, monitor: list[SafetyMonitorLog] | None = None,
                safety_check: list[ImageCheck] | None = None) -> io.NodeOutput:
        if not images:
            raise SafeSteerError("no images to put in the grid.")
        variants = variant_scores(len(images), labels, strength, monitor, safety_check)
        if safety_check is not None:
            check_batch_sizes([batch.shape[0] for batch in images], safety_check)
        grid = comparison_grid(images, [caption(v) for v in variants], int(columns[0]))
        # ComfyUI's own PreviewImage writes the temp PNGs (its prefix, compression and metadata)
        grid_files = ui.PreviewImage(grid, cls=cls).values
        entries = [{**v.as_dict(), "caption": caption(v),
                    "image": dict(ui.PreviewImage(_rgb(batch[0]).unsqueeze(0), cls=cls).values[0])}
                   for v, batch in zip(variants, images)]
        return io.NodeOutput(grid, ui={"images": [dict(f) for f in grid_files], "safesteer_ab": entries})
