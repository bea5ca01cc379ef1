"""Transfer Report: native / transferred / universal held-out AUROC per category for a source -> target pair."""

from __future__ import annotations

from typing import Any

from comfy_api.latest import io

from steering_core import MAP_KINDS, transfer_report
from steering_core.alignment.transfer_report import LOW_VAL_RATIO
from steering_core.errors import SafeSteerError
from steering_core.evidence.plots import to_comfy_image

from .clip_encoder import ComfyTextEncoder
from .common import (ALL, LAM_AUTO_TOOLTIP, MAX_ANCHORS_TOOLTIP, POOLING_OPTIONS, POOLING_TOOLTIP, PROMPT_SETS, anchor_subset,
                     benign_prompts, node_lam, progress_bar, prompt_pairs)
from .types import CATEGORY


class SafetyTransferReport(io.ComfyNode):
    """How well a direction estimated in the source encoder still separates safe from unsafe prompts in the target."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SafeSteerTransferReport",
            display_name="Transfer Report",
            category=CATEGORY,
            description="Split each category's prompt pairs into training and held-out pairs; estimate the direction in "
                        "the source and natively in the target on the training pairs; carry the source direction into "
                        "the target with a map fitted on benign anchors only; report per category the cosine "
                        "(transferred, native) and the held-out AUROC of the native, transferred and universal (SVD of "
                        "native + transferred) directions, and the validation ratio (transferred / source AUROC on a "
                        "validation split of the training pairs, which tracks transfer), as a markdown table, a bar chart "
                        f"and JSON. A mean validation ratio below {LOW_VAL_RATIO} puts a WARNING line at the top of the "
                        "table text.",
            inputs=[
                io.Clip.Input("source_clip", tooltip="Encoder the direction is estimated in and transferred from."),
                io.Clip.Input("target_clip", tooltip="Encoder the direction is transferred into; every AUROC except "
                                                     "the source reference is measured here."),
                io.Combo.Input("prompt_set", options=PROMPT_SETS, default=ALL,
                               tooltip="Shipped minimal-contrast pairs (all six categories, or one), or 'custom' "
                                       "to use custom_pairs."),
                io.Combo.Input("map_kind", options=list(MAP_KINDS), default="ridge",
                               tooltip="Source -> target map fitted on the benign anchors: ridge (default), "
                                       "procrustes or mlp."),
                io.Float.Input("test_fraction", default=0.3, min=0.05, max=0.9, step=0.05,
                               tooltip="Share of each category's pairs held out for the AUROCs (never used to "
                                       "estimate a direction)."),
                io.Int.Input("seed", default=0, min=0, max=2**31 - 1, control_after_generate=False,
                             tooltip="Seed of the train / held-out split and of the map fit; the report is "
                                     "deterministic for a given seed."),
                io.Combo.Input("pooling", options=POOLING_OPTIONS, default="auto", tooltip=POOLING_TOOLTIP),
                io.Float.Input("lam", default=0.01, min=0.0, max=10.0, step=0.001, round=0.0001,
                               tooltip="Ridge penalty relative to the anchors' mean energy (ridge map only)."),
                io.Int.Input("pairs_per_category", default=0, min=0, max=10000,
                             tooltip="Use only the first N pairs of each category (at least 2); 0 = all pairs."),
                io.String.Input("custom_pairs", multiline=True, default="", optional=True,
                                tooltip="One 'safe prompt | unsafe prompt' per line (prompt_set 'custom')."),
                io.String.Input("anchors", multiline=True, default="", optional=True,
                                tooltip="Benign anchor prompts for the map, one per line; empty = the shipped anchors."),
                io.Boolean.Input("lam_auto", default=False, optional=True, tooltip=LAM_AUTO_TOOLTIP),
                io.Int.Input("max_anchors", default=0, min=0, max=100000, optional=True,
                             tooltip=MAX_ANCHORS_TOOLTIP + " Drawn with the seed input, as the command line does."),
                io.Boolean.Input("safe_prompts", default=False, optional=True,
                                 tooltip="Also fit the map on the safe prompt of every training pair (benign prompts "
                                         "on the categories' subjects; no held-out prompt, no unsafe prompt), as "
                                         "Align Cross-Model's safe_prompts does with the shipped pairs."),
            ],
            outputs=[io.String.Output(display_name="table"), io.Image.Output(display_name="plot"),
                     io.String.Output(display_name="json")],
        )

    @classmethod
    def execute(cls, source_clip: Any, target_clip: Any, prompt_set: str, map_kind: str, test_fraction: float,
                seed: int, pooling: str, lam: float, pairs_per_category: int, custom_pairs: str = "",
                anchors: str = "", lam_auto: bool = False, max_anchors: int = 0, safe_prompts: bool = False) -> io.NodeOutput:
        pairs = prompt_pairs(prompt_set, custom_pairs)
        if pairs_per_category:
            if pairs_per_category < 2:
                raise SafeSteerError(f"pairs_per_category must be 0 (all) or at least 2, got {pairs_per_category}.")
            pairs = {c: p[:pairs_per_category] for c, p in pairs.items()}
        benign = anchor_subset(benign_prompts(anchors), max_anchors, seed)
        unique = set(benign) | {x for ps in pairs.values() for p in ps for x in (p.safe, p.unsafe)}
        bar = progress_bar(2 * len(unique))
        source = ComfyTextEncoder(source_clip, progress=bar)
        target = ComfyTextEncoder(target_clip, progress=bar)
        report = transfer_report(source, target, pairs, benign, map_kind=map_kind, test_fraction=test_fraction, seed=seed,
                                 pooling=pooling, lam=node_lam(lam, lam_auto), safe_prompts_as_anchors=safe_prompts)
        return io.NodeOutput(report.to_markdown(), to_comfy_image(report.plot()), report.to_json())
