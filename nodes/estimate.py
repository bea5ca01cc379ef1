"""Estimate Safety Direction: paired safe/unsafe prompts through a source text encoder -> direction."""

from __future__ import annotations

import warnings
from typing import Any

from comfy_api.latest import io

from steering_core import calibrate_gates
from steering_core.encoders.base import directions_from_pairs, encode_pooled, encoder_pooling
from steering_core.directions.pooling import SinkDominatedWarning

from .clip_encoder import ComfyTextEncoder
from .common import ALL, POOLING_OPTIONS, POOLING_TOOLTIP, PROMPT_SETS, benign_prompts, describe, progress_bar, prompt_pairs
from .types import CATEGORY, SafetyDirectionType


class EstimateSafetyDirection(io.ComfyNode):
    """Diff-of-means safety direction per category from paired prompts, gates calibrated on benign anchors."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SafeSteerEstimateDirection",
            display_name="Estimate Safety Direction",
            category=CATEGORY,
            description="Run paired safe/unsafe prompts through a text encoder (any CLIP ComfyUI loads, LLM encoders "
                        "included) and take the difference of means per category, plus a global direction. Gate "
                        "thresholds are calibrated on benign anchor prompts only. Unsafe prompts only pass through "
                        "this (source) encoder.",
            inputs=[
                io.Clip.Input("clip", tooltip="The source text encoder. Its conditioning space is the direction's space."),
                io.Combo.Input("prompt_set", options=PROMPT_SETS, default=ALL,
                               tooltip="Shipped minimal-contrast pairs (all six categories, or one), or 'custom' "
                                       "to use custom_pairs."),
                io.Combo.Input("pooling", options=POOLING_OPTIONS, default="auto", tooltip=POOLING_TOOLTIP),
                io.Float.Input("false_positive_rate", default=0.05, min=0.0, max=0.5, step=0.01,
                               tooltip="Share of benign anchor prompts allowed to open a category's gate."),
                io.String.Input("custom_pairs", multiline=True, default="", optional=True,
                                tooltip="One 'safe prompt | unsafe prompt' per line (prompt_set 'custom')."),
                io.String.Input("benign_anchors", multiline=True, default="", optional=True,
                                tooltip="Benign prompts for gate calibration, one per line; empty = shipped anchors."),
            ],
            outputs=[SafetyDirectionType.Output(display_name="direction"), io.String.Output(display_name="summary")],
        )

    @classmethod
    def execute(cls, clip: Any, prompt_set: str, pooling: str, false_positive_rate: float,
                custom_pairs: str = "", benign_anchors: str = "") -> io.NodeOutput:
        pairs = prompt_pairs(prompt_set, custom_pairs)
        anchors = benign_prompts(benign_anchors)
        total = 2 * sum(len(p) for p in pairs.values()) + len(anchors)
        encoder = ComfyTextEncoder(clip, progress=progress_bar(total))
        pooling = encoder_pooling(encoder, pooling)  # "auto" -> by encoder kind; the direction records the result
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", SinkDominatedWarning)
            direction = directions_from_pairs(encoder, pairs, pooling=pooling, include_global=len(pairs) > 1)
            benign = encode_pooled(encoder, anchors, pooling=pooling)
        direction = calibrate_gates(direction, benign, false_positive_rate)
        notes = list(dict.fromkeys(f"WARNING: {w.message}" for w in caught if issubclass(w.category, SinkDominatedWarning)))
        return io.NodeOutput(direction, "\n".join([describe(direction), *notes]))

