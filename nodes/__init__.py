"""SafeSteer's ComfyUI adapter (V3 API): thin nodes over ``steering_core``.

Only this package imports ComfyUI. Each node validates its inputs, calls the core and, for model
patches, patches a clone through ComfyUI's documented patch points (``patches_replace["dit"]``,
model wrappers). Node ids are public contracts stored in users' workflows: never rename them.
"""

from __future__ import annotations

from comfy_api.latest import ComfyExtension, io

from .registry import all_nodes


class SafeSteerExtension(ComfyExtension):
    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        return all_nodes()


__all__ = ["SafeSteerExtension", "all_nodes"]
