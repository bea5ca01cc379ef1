# This file only exists for backwards compatibility.
from comfy_api.latest._util import VideoCodec, VideoContainer, VideoComponents

__all__ = [
    "VideoCodec",
    "VideoContainer",
    "VideoComponents",
]
