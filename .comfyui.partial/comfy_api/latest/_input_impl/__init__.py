from .video_types import VideoFromFile, VideoFromComponents

__all__ = [
    # Implementations
    "VideoFromFile",
    "VideoFromComponents",
]
