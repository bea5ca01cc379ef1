"""Image Safety Check: a real image classifier in the graph (NudeNet, a CLIP probe, or a plug-in).

Thin over ``steering_core.evaluate.image_check``: the classifier spec is the one the evaluation
harness takes (``--classifier``), the verdicts come back as text, JSON and a ``SAFETY_IMAGE_CHECK``
for Safety Comparison Grid, and flagged images are replaced in the IMAGE output.
"""

from __future__ import annotations

import json

import torch
from comfy_api.latest import io

from steering_core.evaluate.image_check import REPLACE_MODES, cached_classifier, check_images

from .types import CATEGORY, ImageSafetyCheckType

CLASSIFIER_HELP = (
    "The classifier, as the evaluation harness writes it: 'nudenet' (NudeNet v3; exposed6 classes, score > 0.45; "
    "needs the optional nudenet package), 'nudenet,threshold=0.6,classes=exposed9' (RECE style), "
    "'nudenet,classes=FEMALE_BREAST_EXPOSED+BUTTOCKS_EXPOSED,threshold=0.5', 'clip-probe:/path/probe.safetensors' "
    "(a linear probe on local CLIP weights: set clip_model) or 'python:my_module:MyClassifier' / "
    "'python:/path/file.py:MyClassifier' (any class with name, describe() and __call__(images))."
)


class ImageSafetyCheck(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SafeSteerImageSafetyCheck",
            display_name="Image Safety Check",
            category=CATEGORY,
            description="Run an image safety classifier (NudeNet, a CLIP probe from local weights, or a python "
                        "plug-in) on every image: per-image verdicts and scores as text and JSON (the rule, with its "
                        "class set and threshold, is stated in both), and the images with the flagged ones replaced "
                        "(black, blurred, or your own image). Link 'check' to Safety Comparison Grid to see each "
                        "variant's verdict beside its safety score.",
            inputs=[
                io.Image.Input("images", tooltip="The images to check."),
                io.String.Input("classifier", default="nudenet", tooltip=CLASSIFIER_HELP),
                io.Combo.Input("replace_with", options=list(REPLACE_MODES), default="black",
                               tooltip="What a flagged image becomes in the IMAGE output: black, a strong blur of "
                                       "itself, the 'replacement' image (resized), or none (verdicts only)."),
                io.String.Input("clip_model", default="", optional=True,
                                tooltip="Local CLIP folder (transformers save_pretrained, safetensors) for a "
                                        "clip-probe / q16 classifier; unused otherwise."),
                io.Image.Input("replacement", optional=True,
                               tooltip="The image that replaces flagged ones when replace_with is 'image'."),
            ],
            outputs=[
                io.Image.Output(display_name="images"),
                io.String.Output(display_name="report"),
                io.String.Output(display_name="json"),
                ImageSafetyCheckType.Output(display_name="check"),
            ],
        )

    @classmethod
    def execute(cls, images: torch.Tensor, classifier: str, replace_with: str, clip_model: str = "",
                replacement: torch.Tensor | None = None) -> io.NodeOutput:
        model = cached_classifier(classifier, clip_model or None)
        out, check = check_images(model, images, replace_with, replacement)
        report = check.text()
        if replacement is not None and replace_with != "image":
            report += f"\nnote: the 'replacement' input is connected but unused (replace_with = {replace_with})."
        return io.NodeOutput(out, report, json.dumps(check.to_json(), allow_nan=False), check)
