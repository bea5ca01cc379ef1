"""Align Cross-Model and Transport Direction: carry a direction from a source encoder to a target one."""

from __future__ import annotations

import hashlib
import json
import logging
import warnings
from collections import OrderedDict
from typing import Any

from comfy_api.latest import io

from steering_core import (MAP_KINDS, Alignment, LowCoverageWarning, PoorTransferWarning, SafetyDirection, fit_alignment,
                           transport_report)
from steering_core.directions.prompts import safe_anchor_prompts
from steering_core.encoders.base import encode_pooled, encoder_pooling

from .clip_encoder import ComfyTextEncoder
from .common import (LAM_AUTO_TOOLTIP, MAX_ANCHORS_TOOLTIP, POOLING_OPTIONS, POOLING_TOOLTIP, anchor_subset, benign_prompts,
                     node_lam, progress_bar)
from .types import CATEGORY, AlignmentType, SafetyDirectionType

SAFE_PROMPTS_TOOLTIP = ("Also fit the map on the safe prompt of every shipped pair (benign prompts on the six categories' "
                        "subjects, no unsafe prompt): the map then sees the variation safety directions live in. On real "
                        "encoder pairs this raised transferred AUROC by 0.005-0.03 (README, Real cross-model transfer).")
_CACHE: "OrderedDict[str, Alignment]" = OrderedDict()
_CACHE_SIZE = 8


def alignment_key(source: ComfyTextEncoder, target: ComfyTextEncoder, anchors: list[str], **settings: Any) -> str:
    """Content hash of everything an alignment depends on (weights, anchors, settings)."""
    h = hashlib.sha256()
    h.update(json.dumps({"source": [source.name, source.fingerprint], "target": [target.name, target.fingerprint],
                         "settings": settings}, sort_keys=True).encode())
    for a in anchors:
        h.update(a.encode() + b"\n")
    return h.hexdigest()


class AlignCrossModel(io.ComfyNode):
    """Fit a source -> target map on benign anchor prompts only (ridge, orthogonal Procrustes or a small MLP)."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SafeSteerAlignCrossModel",
            display_name="Align Cross-Model",
            category=CATEGORY,
            description="Encode benign anchor prompts with both text encoders and fit a light map from the source "
                        "space to the target space. No unsafe prompt ever passes through the target. Results are "
                        "cached by content hash (weights + anchors + settings), so re-queueing costs nothing.",
            inputs=[
                io.Clip.Input("source_clip", tooltip="Encoder the direction was estimated with (e.g. an LLM)."),
                io.Clip.Input("target_clip", tooltip="The generator's own text encoder."),
                io.Combo.Input("map_kind", options=list(MAP_KINDS), default="ridge",
                               tooltip="ridge: closed-form linear map (default, most robust); procrustes: "
                                       "orthogonal map plus scale; mlp: a small non-linear map."),
                io.Float.Input("lam", default=0.01, min=0.0, max=10.0, step=0.001, round=0.0001,
                               tooltip="Ridge penalty relative to the anchors' mean energy (0.01 is a good default)."),
                io.Combo.Input("pooling", options=POOLING_OPTIONS, default="auto", tooltip=POOLING_TOOLTIP),
                io.String.Input("anchors", multiline=True, default="", optional=True,
                                tooltip="Benign anchor prompts, one per line; empty = the shipped anchors."),
                io.Boolean.Input("lam_auto", default=False, optional=True, tooltip=LAM_AUTO_TOOLTIP),
                io.Int.Input("max_anchors", default=0, min=0, max=100000, optional=True,
                             tooltip=MAX_ANCHORS_TOOLTIP + " Drawn with seed 0."),
                io.Boolean.Input("safe_prompts", default=False, optional=True, tooltip=SAFE_PROMPTS_TOOLTIP),
            ],
            outputs=[AlignmentType.Output(display_name="alignment"), io.String.Output(display_name="report")],
        )

    @classmethod
    def execute(cls, source_clip: Any, target_clip: Any, map_kind: str, lam: float, pooling: str,
                anchors: str = "", lam_auto: bool = False, max_anchors: int = 0, safe_prompts: bool = False) -> io.NodeOutput:
        available = benign_prompts(anchors)
        prompts = anchor_subset(available, max_anchors)
        n_drawn = len(prompts)
        if safe_prompts:
            prompts = list(dict.fromkeys(prompts + safe_anchor_prompts()))
        lam_value = node_lam(lam, lam_auto)
        source = ComfyTextEncoder(source_clip)
        target = ComfyTextEncoder(target_clip)
        # "auto" pools each side by its own encoder kind (an LLM source drops its attention sink, a T5 target does not).
        source_pooling, target_pooling = encoder_pooling(source, pooling), encoder_pooling(target, pooling)
        key = alignment_key(source, target, prompts, kind=map_kind, lam=lam_value, pooling=f"{source_pooling}->{target_pooling}")
        alignment = _CACHE.get(key)
        if alignment is None:
            bar = progress_bar(2 * len(prompts))
            source.progress = target.progress = bar
            src = encode_pooled(source, prompts, pooling=source_pooling)
            tgt = encode_pooled(target, prompts, pooling=target_pooling)
            alignment = fit_alignment(
                src, tgt, kind=map_kind, lam=lam_value, source_model=source.name, target_model=target.name,
                source_layer=source.layer, target_layer=target.layer, source_fingerprint=source.fingerprint,
                target_fingerprint=target.fingerprint)
            alignment.settings.update(source_pooling=source_pooling, target_pooling=target_pooling)
            _CACHE[key] = alignment
            while len(_CACHE) > _CACHE_SIZE:
                _CACHE.popitem(last=False)
        _CACHE.move_to_end(key)
        r2 = alignment.held_out_r2
        drawn = f" (a seeded random {n_drawn} of {len(available)})" if n_drawn < len(available) else ""
        added = f" + {len(prompts) - n_drawn} safe prompts of the shipped pairs" if safe_prompts else ""
        report = (f"{alignment.kind} map {alignment.source_dim}-d ({alignment.source_model}) -> {alignment.target_dim}-d "
                  f"({alignment.target_model}) on {n_drawn} benign anchors{drawn}{added} ({source_pooling} -> "
                  f"{target_pooling} pooling){_lam_text(alignment)}; held-out R^2 "
                  f"{'n/a' if r2 is None else f'{r2:.3f}'}")
        return io.NodeOutput(alignment, report)


def _lam_text(alignment: Alignment) -> str:
    """``", lam auto: 0.1 (leave-one-out)"`` / ``", lam 0.01"`` for a ridge map; empty for the other kinds."""
    settings = alignment.settings
    if alignment.kind != "ridge":
        return ""
    if settings.get("lam_selected") is not None:
        return f", lam auto: {settings['lam_selected']:g} (leave-one-out)"
    return f", lam {settings.get('lam'):g}"


class TransportDirection(io.ComfyNode):
    """Carry a source-space direction through an alignment into the target space (with beta calibration)."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SafeSteerTransportDirection",
            display_name="Transport Direction",
            category=CATEGORY,
            description="Push a direction through an alignment, rescale it by beta (ratio of anchor norms) and calibrate "
                        "its gate thresholds on the target's benign anchors (gates score the transported projection; a "
                        "Procrustes map gates best on the measured cross-model pairs).",
            inputs=[
                SafetyDirectionType.Input("direction", tooltip="A direction in the alignment's source space."),
                AlignmentType.Input("alignment", tooltip="From Align Cross-Model."),
                io.Float.Input("false_positive_rate", default=0.05, min=0.0, max=0.5, step=0.01,
                               tooltip="Share of benign anchors allowed to open a gate in the target space."),
                io.Boolean.Input("calibrate", default=True,
                                 tooltip="Rescale by beta and calibrate gates on the target's benign anchors."),
            ],
            outputs=[SafetyDirectionType.Output(display_name="direction"), io.String.Output(display_name="report")],
        )

    @classmethod
    def execute(cls, direction: SafetyDirection, alignment: Alignment, false_positive_rate: float,
                calibrate: bool) -> io.NodeOutput:
        kinds = (LowCoverageWarning, PoorTransferWarning)
        with warnings.catch_warnings(record=True) as caught:
            for kind in kinds:
                warnings.simplefilter("always", kind)
            moved = alignment.transport(direction, calibrate=calibrate, false_positive_rate=false_positive_rate)
        report = transport_report(moved)
        notes = [str(w.message) for w in caught if issubclass(w.category, kinds)]
        for note in notes:
            logging.warning("SafeSteer Transport Direction: %s", note)
        # the report's markdown already ends with its warnings (low coverage, poor fit)
        text = report.to_markdown() if report is not None else "\n".join(["transported", *("WARNING: " + n for n in notes)])
        return io.NodeOutput(moved, text)
