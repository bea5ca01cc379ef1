"""SafeSteer's model folders (``models/safety_directions``, ``models/safety_saes``), registered with
ComfyUI's ``folder_paths`` and listing ``.safetensors`` only."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

import folder_paths
from steering_core.errors import SafeSteerError, printable
from steering_core.files.numbered import free_path

EXTENSIONS = {".safetensors"}
_STEM = re.compile(r"[A-Za-z0-9_\-./ ]+")
MAX_NAME = 160
MAX_PART = 100
_RESERVED = frozenset({"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(10)), *(f"LPT{i}" for i in range(10))})


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

    def clean_stem(self, filename: str) -> str:
        """A user's file name without ``.safetensors``; sub-folders allowed, nothing outside the folder.

        Refused: other characters than letters, digits, ``-_./`` and space; over :data:`MAX_NAME` characters
        (or a part over :data:`MAX_PART`); empty parts, parts starting with '.' or ending in '.' or ' ';
        Windows reserved names (``CON``, ``NUL``, ``COM1``...); a part that names an existing file.
        """
        raw = filename if isinstance(filename, str) else ""
        stem = raw.strip().removesuffix(".safetensors")
        parts = stem.split("/")
        bad = (not stem or len(stem) > MAX_NAME or not _STEM.fullmatch(stem)
               or any(not p or len(p) > MAX_PART or p.startswith(".") or p.endswith((".", " "))
                      or p.split(".")[0].upper() in _RESERVED for p in parts))
        if bad:
            raise SafeSteerError(
                f"filename {printable(filename, 80)!r} is not usable; use up to {MAX_NAME} letters, digits, '-', '_' "
                f"and '/' (sub-folders inside models/{self.name}; parts up to {MAX_PART} characters, not starting "
                "with '.', no reserved names such as CON or NUL).")
        root = self.directory()
        for i in range(1, len(parts)):
            if os.path.exists(os.path.join(root, *parts[:i])) and not os.path.isdir(os.path.join(root, *parts[:i])):
                raise SafeSteerError(f"filename {printable(filename, 80)!r} uses {'/'.join(parts[:i])!r} as a folder, "
                                     f"but models/{self.name} holds a file of that name; choose another name.")
        return stem

    def stem_directory(self, stem: str) -> str:
        """The folder a clean ``stem`` (possibly with sub-folders) lives in."""
        return os.path.dirname(os.path.join(self.directory(), stem))

    def new_file(self, stem: str) -> str:
        """A path for saving ``stem`` that never names an existing file (sub-folders created)."""
        target_dir = self.stem_directory(stem)
        os.makedirs(target_dir, exist_ok=True)
        return free_path(target_dir, os.path.basename(stem))

    def fingerprint(self, name: str) -> str:
        """Path, mtime and size of ``name`` (a loader node's cache key), or a 'missing' marker."""
        try:
            path = self.full_path(name)
            stat = os.stat(path)
            return f"{path}:{stat.st_mtime_ns}:{stat.st_size}"
        except (FileNotFoundError, OSError):
            return f"missing:{name}"

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
