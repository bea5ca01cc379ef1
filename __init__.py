"""SafeSteer ComfyUI node pack: cross-model safety steering for diffusion transformers.

ComfyUI loads this folder from ``custom_nodes/`` and calls :func:`comfy_entrypoint` (V3 API).
The package stays importable without ComfyUI (scripts, tests, pip installs): the node adapter in
``nodes/`` is only imported when the entrypoint is called. The math lives in ``steering_core``.
"""

from __future__ import annotations

import os
import sys

_PACK_DIR = os.path.dirname(os.path.abspath(__file__))

#: Frontend extensions (the Comparison Grid's A/B compare view), served by ComfyUI under
#: ``/extensions/<pack folder>/``; ComfyUI reads this from the module for V3 packs too.
WEB_DIRECTORY = "./web"


def _ensure_core_importable() -> None:
    """Make ``steering_core`` importable when the pack was cloned into ``custom_nodes/`` without pip."""
    try:
        import steering_core  # noqa: F401
    except ImportError:
        # appended, not prepended: the pack's folder must never shadow ComfyUI's own top-level
        # modules (its ``nodes.py`` above all).
        sys.path.append(_PACK_DIR)


async def comfy_entrypoint():  # noqa: ANN201 - returns comfy_api.latest.ComfyExtension
    """V3 entrypoint ComfyUI calls after importing the pack."""
    _ensure_core_importable()
    from .nodes import SafeSteerExtension

    return SafeSteerExtension()
