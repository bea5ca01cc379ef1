"""SafeSteer's ComfyUI adapter (V3 API): thin nodes over ``steering_core``.

Only this package imports ComfyUI. Each node validates its inputs, calls the core and, for model
patches, patches a clone through ComfyUI's documented patch points (``patches_replace["dit"]``,
model wrappers). Node ids are public contracts stored in users' workflows: never rename them.
"""

from __future__ import annotations

from comfy_api.latest import ComfyExtension, io

from .input_checks import checked
from .registry import all_nodes


class SafeSteerExtension(ComfyExtension):
    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        # every node checks its inputs against its own schema before it runs (input_checks.py)
        return [checked(node) for node in all_nodes()]


__all__ = ["SafeSteerExtension", "all_nodes"]
