"""SafeSteer's file format: safetensors with string metadata, validated on load.

Every SafeSteer file carries ``safesteer.kind`` (e.g. "SafetyDirection", "Alignment") and
``safesteer.format_version`` in its metadata; structured values are JSON-encoded strings.
Nothing here ever unpickles: the header is parsed as JSON and tensors are read by safetensors.
"""

from __future__ import annotations

import json
import os
import struct
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from .errors import NonFiniteError, SafeSteerFileError, WrongFileKindError

FORMAT_VERSION = 1
KIND_KEY = "safesteer.kind"
VERSION_KEY = "safesteer.format_version"
_MAX_HEADER_BYTES = 100 * 1024 * 1024


def encode_json(value: Any) -> str:
    """JSON-encode a metadata value (floats keep their exact repr, so round trips are bit-exact)."""
    return json.dumps(value, sort_keys=True, allow_nan=True)


def decode_json(text: str, key: str, path: Path) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SafeSteerFileError(f"{path}: metadata field {key!r} is not valid JSON ({exc.msg}); the file is damaged.") from exc


def write_safesteer_file(
    path: str | os.PathLike[str],
    kind: str,
    tensors: dict[str, torch.Tensor],
    metadata: dict[str, str],
    overwrite: bool = False,
) -> Path:
    """Write ``tensors`` and string ``metadata`` as a SafeSteer file of ``kind``.

    Refuses to replace an existing file unless ``overwrite=True``; the write goes to a temporary
    file in the same folder first and is renamed into place, so a crash never leaves half a file.
    """
    target = Path(path)
    if target.exists() and not overwrite:
        raise SafeSteerFileError(
            f"{target} already exists; pass overwrite=True to replace it, or choose another file name."
        )
    if target.parent and not target.parent.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
    meta = {KIND_KEY: kind, VERSION_KEY: str(FORMAT_VERSION)}
    for key, value in metadata.items():
        if not isinstance(value, str):
            raise TypeError(f"metadata value for {key!r} must be a string, got {type(value).__name__}")
        meta[key] = value
    clean = {name: t.detach().to("cpu").contiguous() for name, t in tensors.items()}
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=str(target.parent))
    os.close(fd)
    try:
        save_file(clean, tmp_name, metadata=meta)
        os.replace(tmp_name, target)
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
    return target


def _read_header(path: Path) -> dict[str, Any]:
    """Parse the safetensors header by hand so damaged files get a precise message."""
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(8)
        if len(head) < 8:
            raise SafeSteerFileError(f"{path} is not a safetensors file (only {size} bytes long).")
        (header_len,) = struct.unpack("<Q", head)
        if header_len == 0 or header_len > _MAX_HEADER_BYTES or header_len > size - 8:
            raise SafeSteerFileError(
                f"{path} is not a safetensors file or is truncated (header length {header_len} does not fit "
                f"in a {size}-byte file). SafeSteer reads only .safetensors files; re-export or re-download it."
            )
        raw = fh.read(header_len)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SafeSteerFileError(f"{path} is not a safetensors file (its header is not JSON).") from exc
    if not isinstance(header, dict):
        raise SafeSteerFileError(f"{path} is not a safetensors file (its header is not a JSON object).")
    data_len = size - 8 - header_len
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        offsets: Any = entry.get("data_offsets") if isinstance(entry, dict) else None
        valid = isinstance(offsets, list) and len(offsets) == 2 and all(
            isinstance(o, int) and not isinstance(o, bool) and o >= 0 for o in offsets) and offsets[0] <= offsets[1]
        if not valid:
            raise SafeSteerFileError(f"{path}: tensor {name!r} has no valid data offsets; the file is damaged.")
        if offsets[1] > data_len:
            raise SafeSteerFileError(
                f"{path} is truncated: tensor {name!r} ends at byte {offsets[1]} of the data section but the file "
                f"holds only {data_len} data bytes. Copy or download the file again."
            )
    return header


def read_safesteer_file(
    path: str | os.PathLike[str],
    expected_kind: str | None = None,
) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Read a SafeSteer file and return ``(tensors, metadata)``; tensors are on the CPU.

    Raises SafeSteerFileError for a missing, non-safetensors, truncated or non-SafeSteer file,
    WrongFileKindError when its kind differs from ``expected_kind``, and NonFiniteError when a
    tensor holds NaN/Inf.
    """
    file_path = Path(path)
    if not file_path.is_file():
        raise SafeSteerFileError(f"{file_path} does not exist or is not a file.")
    header = _read_header(file_path)
    metadata = header.get("__metadata__") or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise SafeSteerFileError(f"{file_path}: safetensors metadata must map strings to strings.")
    kind = metadata.get(KIND_KEY)
    if kind is None:
        raise SafeSteerFileError(
            f"{file_path} is a safetensors file but not a SafeSteer file (no {KIND_KEY!r} metadata). "
            "Create directions with steering_core.estimate_direction and alignments with fit_alignment."
        )
    version = metadata.get(VERSION_KEY, "")
    if not version.isdigit():
        raise SafeSteerFileError(f"{file_path}: missing or invalid {VERSION_KEY!r} metadata.")
    if int(version) > FORMAT_VERSION:
        raise SafeSteerFileError(
            f"{file_path} uses SafeSteer format version {version}, newer than this install reads "
            f"({FORMAT_VERSION}); update SafeSteer."
        )
    if expected_kind is not None and kind != expected_kind:
        raise WrongFileKindError(f"{file_path} holds a {kind}, but a {expected_kind} was expected.")
    tensors: dict[str, torch.Tensor] = {}
    try:
        with safe_open(str(file_path), framework="pt", device="cpu") as fh:
            for name in fh.keys():
                tensors[name] = fh.get_tensor(name)
    except Exception as exc:  # noqa: BLE001 - safetensors raises its own error types
        raise SafeSteerFileError(f"{file_path} could not be read as safetensors: {exc}") from exc
    for name, tensor in tensors.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise NonFiniteError(
                f"{file_path}: tensor {name!r} contains NaN/Inf values; the file was saved from a broken computation. "
                "Re-create it (in float32) and save again."
            )
    return tensors, dict(metadata)


def peek_kind(path: str | os.PathLike[str]) -> str:
    """Return a SafeSteer file's kind without reading its tensors."""
    file_path = Path(path)
    if not file_path.is_file():
        raise SafeSteerFileError(f"{file_path} does not exist or is not a file.")
    metadata = _read_header(file_path).get("__metadata__") or {}
    kind = metadata.get(KIND_KEY) if isinstance(metadata, dict) else None
    if not isinstance(kind, str):
        raise SafeSteerFileError(f"{file_path} is not a SafeSteer file (no {KIND_KEY!r} metadata).")
    return kind


def require_keys(tensors: dict[str, torch.Tensor], metadata: dict[str, str], tensor_keys: tuple[str, ...],
                 meta_keys: tuple[str, ...], path: str | os.PathLike[str], kind: str) -> None:
    """Raise SafeSteerFileError naming every missing tensor or metadata key."""
    missing = [f"tensor {k!r}" for k in tensor_keys if k not in tensors]
    missing += [f"metadata {k!r}" for k in meta_keys if k not in metadata]
    if missing:
        raise SafeSteerFileError(f"{path}: this {kind} file is incomplete, missing {', '.join(missing)}.")
