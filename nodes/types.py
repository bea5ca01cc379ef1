"""Custom ComfyUI socket types carried between SafeSteer nodes."""

from __future__ import annotations

from comfy_api.latest import io

#: a ``steering_core.SafetyDirection`` (K categories, one activation space)
SafetyDirectionType = io.Custom("SAFETY_DIRECTION")
#: a ``steering_core.Alignment`` (source -> target map fitted on benign anchors)
AlignmentType = io.Custom("SAFETY_ALIGNMENT")

CATEGORY = "SafeSteer"
#: a ``steering_core.sae.safety_sae.SafetySAE`` (one sparse autoencoder, with its harmful features, per DiT site)
SafetySAEType = io.Custom("SAFETY_SAE")
#: a ``steering_core.evaluate.image_check.ImageCheck`` (one classifier's verdicts on one image batch)
ImageSafetyCheckType = io.Custom("SAFETY_IMAGE_CHECK")
