"""Never-overwrite file names: ``<stem>.safetensors``, then ``<stem>_00001.safetensors``, ``_00002``...

Shared by every host that saves SafeSteer files into a folder (the ComfyUI model folders, the SAE
pipeline); a name that exists is never reused.
"""

from __future__ import annotations

import os
import re


def free_path(directory: str | os.PathLike[str], stem: str) -> str:
    """``<dir>/<stem>.safetensors``, or the first free ``<stem>_00001.safetensors``... (never an existing file)."""
    path = os.path.join(directory, f"{stem}.safetensors")
    n = 1
    while os.path.exists(path):
        path = os.path.join(directory, f"{stem}_{n:05d}.safetensors")
        n += 1
    return path


def numbered_files(directory: str | os.PathLike[str], stem: str) -> list[str]:
    """The existing files :func:`free_path` may have written for ``stem`` in ``directory``, sorted by name."""
    if not os.path.isdir(directory):
        return []
    pattern = re.compile(re.escape(stem) + r"(_\d{5})?\.safetensors")
    return [os.path.join(directory, name) for name in sorted(os.listdir(directory)) if pattern.fullmatch(name)]
