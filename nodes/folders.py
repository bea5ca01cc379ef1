"""The ``models/safety_directions`` folder, registered with ComfyUI's ``folder_paths``."""

from __future__ import annotations

import os

import folder_paths

FOLDER = "safety_directions"
EXTENSIONS = {".safetensors"}


def register() -> None:
    """Register ``<models>/safety_directions`` (listing ``.safetensors`` only); safe to call twice."""
    path = os.path.join(folder_paths.models_dir, FOLDER)
    if FOLDER in folder_paths.folder_names_and_paths:
        paths, exts = folder_paths.folder_names_and_paths[FOLDER]
        if path not in paths:
            paths.append(path)
        folder_paths.folder_names_and_paths[FOLDER] = (paths, set(exts) | EXTENSIONS)
    else:
        folder_paths.folder_names_and_paths[FOLDER] = ([path], set(EXTENSIONS))


def directory() -> str:
    """The first (writable) safety_directions folder, created if missing."""
    register()
    path = folder_paths.get_folder_paths(FOLDER)[0]
    os.makedirs(path, exist_ok=True)
    return path


def files() -> list[str]:
    register()
    return sorted(folder_paths.get_filename_list(FOLDER))


def full_path(name: str) -> str:
    register()
    path = folder_paths.get_full_path(FOLDER, name)
    if path is None:
        raise FileNotFoundError(
            f"safety direction file {name!r} was not found in {', '.join(folder_paths.get_folder_paths(FOLDER))}; "
            f"put .safetensors files made by Save Safety Direction there and refresh the node list."
        )
    return path
