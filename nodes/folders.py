"""SafeSteer's model folders (``models/safety_directions``, ``models/safety_saes``), registered with
ComfyUI's ``folder_paths`` and listing ``.safetensors`` only."""

from __future__ import annotations

import os
from dataclasses import dataclass

import folder_paths

EXTENSIONS = {".safetensors"}


@dataclass(frozen=True)
class ModelFolder:
    """One ``models/<name>`` folder; ``what`` names its files in error messages."""

    name: str
    what: str
    made_by: str

    def register(self) -> None:
        """Register ``<models>/<name>``; safe to call twice."""
        path = os.path.join(folder_paths.models_dir, self.name)
        if self.name in folder_paths.folder_names_and_paths:
            paths, exts = folder_paths.folder_names_and_paths[self.name]
            if path not in paths:
                paths.append(path)
            folder_paths.folder_names_and_paths[self.name] = (paths, set(exts) | EXTENSIONS)
        else:
            folder_paths.folder_names_and_paths[self.name] = ([path], set(EXTENSIONS))

    def directory(self) -> str:
        """The first (writable) folder, created if missing."""
        self.register()
        path = folder_paths.get_folder_paths(self.name)[0]
        os.makedirs(path, exist_ok=True)
        return path

    def files(self) -> list[str]:
        self.register()
        return sorted(folder_paths.get_filename_list(self.name))

    def full_path(self, name: str) -> str:
        self.register()
        path = folder_paths.get_full_path(self.name, name)
        if path is None:
            raise FileNotFoundError(
                f"{self.what} file {name!r} was not found in {', '.join(folder_paths.get_folder_paths(self.name))}; "
                f"put .safetensors files made by {self.made_by} there and refresh the node list.")
        return path


DIRECTIONS = ModelFolder("safety_directions", "safety direction", "Save Safety Direction")
SAES = ModelFolder("safety_saes", "Safety SAE", "Train Safety SAE")
FOLDER = DIRECTIONS.name


def register() -> None:
    DIRECTIONS.register()
    SAES.register()


def directory() -> str:
    return DIRECTIONS.directory()


def files() -> list[str]:
    return DIRECTIONS.files()


def full_path(name: str) -> str:
    return DIRECTIONS.full_path(name)
