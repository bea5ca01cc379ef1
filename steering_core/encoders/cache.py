"""A cache folder for model conversions made once from installed packages (never downloaded).

A conversion writes a model folder under ``cache_root()/<name>`` through a temporary sibling
folder that is renamed into place only when complete, plus ``safesteer_conversion.json``: the
converter version, the source file's size and SHA-256, and the SHA-256 of every file written.
Reuse checks that record against the source and the files on disk; a folder that does not match
(a new package version, an interrupted or edited conversion) is converted again.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

from ..errors import SafeSteerError

MANIFEST = "safesteer_conversion.json"


def cache_root() -> Path:
    """``$SAFESTEER_CACHE`` if set, else ``$XDG_CACHE_HOME/safesteer`` or ``~/.cache/safesteer``."""
    env = os.environ.get("SAFESTEER_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "safesteer"


def file_sha256(path: Path, chunk: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _source_record(source: Path) -> dict[str, object]:
    return {"name": source.name, "bytes": source.stat().st_size, "sha256": file_sha256(source)}


def read_manifest(folder: Path) -> dict[str, object] | None:
    """The conversion record of ``folder``, or None when there is none or it is unreadable."""
    try:
        return json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return None


def manifest_matches(folder: Path, source: Path, converter: str) -> bool:
    """True when ``folder`` holds a complete conversion of ``source`` by ``converter``, files unchanged."""
    record = read_manifest(folder)
    if record is None or record.get("converter") != converter:
        return False
    src = record.get("source", {})
    if not isinstance(src, dict) or src.get("bytes") != source.stat().st_size:
        return False
    files = record.get("files", {})
    if not isinstance(files, dict) or not files:
        return False
    for name, sha in files.items():
        path = folder / name
        if not path.is_file() or file_sha256(path) != sha:
            return False
    # The source's size matched; its hash is checked last because it is the slowest read.
    return src.get("sha256") == file_sha256(source)


def cached_conversion(name: str, source: Path, converter: str, convert: Callable[[Path], None],
                      root: Path | None = None) -> Path:
    """The folder ``<root>/<name>`` holding ``convert``'s output for ``source``, converting at most once.

    Args:
        name: sub-folder of the cache root.
        source: the file the conversion reads (its size and SHA-256 are recorded).
        converter: a version string of the conversion code; changing it invalidates old folders.
        convert: writes the model files into the (empty, temporary) folder it is given.
        root: the cache root; :func:`cache_root` when None.
    """
    if not source.is_file():
        raise SafeSteerError(f"cannot convert {name}: source file {source} does not exist; reinstall its package.")
    base = Path(root) if root is not None else cache_root()
    folder = base / name
    if folder.is_dir() and manifest_matches(folder, source, converter):
        return folder
    base.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=base))
    try:
        convert(tmp)
        files = {p.name: file_sha256(p) for p in sorted(tmp.iterdir()) if p.is_file()}
        if not files:
            raise SafeSteerError(f"the {name} conversion wrote no files.")
        record = {"converter": converter, "source": _source_record(source), "files": files}
        (tmp / MANIFEST).write_text(json.dumps(record, indent=1, sort_keys=True))
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder
