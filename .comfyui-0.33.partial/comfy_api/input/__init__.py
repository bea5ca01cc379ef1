# This file only exists for backwards compatibility.
from comfy_api.latest._input import (
    ImageInput,
    AudioInput,
    MaskInput,
    LatentInput,
    VideoInput,
    CurvePoint,
    CurveInput,
    MonotoneCubicCurve,
    LinearCurve,
    RangeInput,
)

__all__ = [
    "ImageInput",
    "AudioInput",
    "MaskInput",
    "LatentInput",
    "VideoInput",
    "CurvePoint",
    "CurveInput",
    "MonotoneCubicCurve",
    "LinearCurve",
    "RangeInput",
]
