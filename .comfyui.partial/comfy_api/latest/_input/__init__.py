from .basic_types import ImageInput, AudioInput, MaskInput, LatentInput
from .video_types import VideoInput

__all__ = [
    "ImageInput",
    "AudioInput",
    "VideoInput",
    "MaskInput",
    "LatentInput",
]
