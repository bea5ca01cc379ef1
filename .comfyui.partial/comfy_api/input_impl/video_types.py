# This file only exists for backwards compatibility.
from comfy_api.latest._input_impl.video_types import *  # noqa: F403
