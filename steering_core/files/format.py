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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from safetensors.torch import save_file

from ..errors import NonFiniteError, SafeSteerFileError, WrongFileKindError, printable, show_path

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
        raise SafeSteerFileError(f"{show_path(path)}: metadata field {key!r} is not valid JSON ({exc.msg}); the file is "
                                 "damaged, re-create it.") from exc
    except RecursionError as exc:
        raise SafeSteerFileError(f"{show_path(path)}: metadata field {key!r} is nested too deeply; the file is "
                                 "damaged, re-create it.") from exc


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
            f"{show_path(target)} already exists; pass overwrite=True to replace it, or choose another file name."
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


# bytes per element of every dtype safetensors writes; anything else in a header is refused
DTYPE_BYTES: dict[str, int] = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1,
                               "U8": 1, "BOOL": 1}
FLOAT_DTYPES = frozenset({"F64", "F32", "F16", "BF16"})
INT_DTYPES = frozenset({"I64", "I32", "I16", "I8", "U8"})
#: largest file SafeSteer reads (a 16x SAE at 16 sites of a 3072-wide model is about 10 GiB in float32)
MAX_FILE_BYTES = 32 * 1024 ** 3
#: largest hidden size / category count / SAE dictionary a SafeSteer file may declare
MAX_DIM = 1 << 16
MAX_CATEGORIES = 256
MAX_SAE_LATENTS = 1 << 21
_MAX_TENSORS = 100_000
_MAX_META_CHARS = 64 * 1024 * 1024


_TORCH_DTYPES = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
                 "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
                 "BOOL": torch.bool}


@dataclass(frozen=True)
class TensorInfo:
    """One tensor as its safetensors header declares it: dtype name (``"F32"``...), shape and byte
    offsets ``[start, end)`` inside the data section."""

    dtype: str
    shape: tuple[int, ...]
    offsets: tuple[int, int] = (0, 0)


@dataclass(frozen=True)
class FileHeader:
    """A safetensors header, validated, read without allocating any tensor."""

    path: Path
    tensors: dict[str, TensorInfo]
    metadata: dict[str, str]
    data_start: int = 0

    def load(self, names: list[str] | None = None) -> dict[str, torch.Tensor]:
        """Read tensors ``names`` (default: all) at the offsets the validated header gives, on the CPU.

        Read with Python's own file API (safetensors' reader refuses paths that are not UTF-8), one
        bytes buffer per tensor of exactly the size :func:`read_header` checked.
        """
        out: dict[str, torch.Tensor] = {}
        with open(self.path, "rb") as fh:
            for name in self.tensors if names is None else names:
                info = self.tensors[name]
                fh.seek(self.data_start + info.offsets[0])
                raw = bytearray(fh.read(info.offsets[1] - info.offsets[0]))
                if len(raw) != info.offsets[1] - info.offsets[0]:
                    raise self.fail(f"tensor {name!r} is cut short", "copy or download the file again.")
                flat = torch.frombuffer(raw, dtype=_TORCH_DTYPES[info.dtype]) if raw else \
                    torch.empty(0, dtype=_TORCH_DTYPES[info.dtype])
                out[name] = flat.reshape(info.shape)
        return out

    def fail(self, problem: str, fix: str = "the file is damaged or was not made by SafeSteer; re-create it.") -> SafeSteerFileError:
        """An error naming this file (escaped), what is wrong and what to do."""
        return SafeSteerFileError(f"{show_path(self.path)}: {problem}; {fix}")

    def expect(self, name: str, shape: tuple[int, ...], dtypes: frozenset[str] = FLOAT_DTYPES,
               required: bool = True) -> None:
        """Raise unless tensor ``name`` exists (when ``required``) with exactly ``shape`` and one of ``dtypes``."""
        info = self.tensors.get(name)
        if info is None:
            if required:
                raise self.fail(f"tensor {name!r} is missing")
            return
        if info.dtype not in dtypes:
            raise self.fail(f"tensor {name!r} has dtype {info.dtype}, expected one of {', '.join(sorted(dtypes))}")
        if info.shape != tuple(shape):
            raise self.fail(f"tensor {name!r} has shape {list(info.shape)}, but its metadata implies {list(shape)}")

    def only(self, allowed: set[str]) -> None:
        """Raise if the file holds a tensor outside ``allowed`` (nothing unknown is ever read into memory)."""
        extra = sorted(set(self.tensors) - allowed)
        if extra:
            raise self.fail(f"it holds tensor(s) this kind does not have ({', '.join(printable(n, 40) for n in extra[:5])})")

    def shape(self, name: str, ndim: int, dtypes: frozenset[str] = FLOAT_DTYPES) -> tuple[int, ...]:
        """The shape of a required tensor whose size is not implied by the metadata (only its rank)."""
        info = self.tensors.get(name)
        if info is None:
            raise self.fail(f"tensor {name!r} is missing")
        if info.dtype not in dtypes or len(info.shape) != ndim:
            raise self.fail(f"tensor {name!r} has dtype {info.dtype} and shape {list(info.shape)}, expected a "
                            f"{ndim}-d tensor of {', '.join(sorted(dtypes))}")
        return info.shape

    def json(self, key: str, kind: type | tuple[type, ...], default: Any = None) -> Any:
        """Metadata ``key`` decoded as JSON and checked to be of ``kind`` (``default`` when absent)."""
        if key not in self.metadata:
            if default is not None:
                return default
            raise self.fail(f"metadata {key!r} is missing")
        kinds = kind if isinstance(kind, tuple) else (kind,)
        value = decode_json(self.metadata[key], key, self.path)
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            names = " or ".join(k.__name__ for k in kinds)
            raise self.fail(f"metadata {key!r} must be a JSON {names}, got {type(value).__name__}")
        return value

    def int(self, key: str, low: int = 1, high: int = 1 << 20) -> int:
        """Metadata ``key`` as a decimal integer in ``[low, high]``."""
        text = self.metadata.get(key)
        if text is None:
            raise self.fail(f"metadata {key!r} is missing")
        if not (0 < len(text) <= 12 and text.isascii() and text.isdigit()) or not low <= int(text) <= high:
            raise self.fail(f"metadata {key!r} must be an integer in [{low}, {high}], got {printable(text, 40)!r}")
        return int(text)


def _check_size(path: Path, size: int, max_bytes: int) -> None:
    if size > max_bytes:
        raise SafeSteerFileError(
            f"{show_path(path)} is {size / 1024 ** 3:.1f} GiB, more than the {max_bytes / 1024 ** 3:.1f} GiB SafeSteer reads "
            "from one file; it is not a SafeSteer file (or raise steering_core.files.format.MAX_FILE_BYTES if you trust it).")


def read_header(path: str | os.PathLike[str], max_bytes: int | None = None) -> FileHeader:
    """Parse and validate a safetensors header by hand, allocating no tensor.

    Checks: the file exists and is at most ``max_bytes`` (default :data:`MAX_FILE_BYTES`); the header
    is a JSON object; every tensor has a known dtype, a shape of non-negative ints and data offsets
    whose span is exactly ``numel * itemsize`` and lies inside the file; metadata maps strings to strings.
    """
    file_path = Path(path)
    if not file_path.is_file():
        raise SafeSteerFileError(f"{show_path(file_path)} does not exist or is not a file; check the name and folder.")
    size = file_path.stat().st_size
    _check_size(file_path, size, MAX_FILE_BYTES if max_bytes is None else max_bytes)
    with file_path.open("rb") as fh:
        head = fh.read(8)
        if len(head) < 8:
            raise SafeSteerFileError(f"{show_path(file_path)} is not a safetensors file (only {size} bytes long); "
                                     "pick a .safetensors file SafeSteer saved.")
        (header_len,) = struct.unpack("<Q", head)
        if header_len == 0 or header_len > _MAX_HEADER_BYTES or header_len > size - 8:
            raise SafeSteerFileError(
                f"{show_path(file_path)} is not a safetensors file or is truncated (header length {header_len} does not "
                f"fit in a {size}-byte file). SafeSteer reads only .safetensors files; re-export or re-download it.")
        raw = fh.read(header_len)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise SafeSteerFileError(f"{show_path(file_path)} is not a safetensors file (its header is not JSON); "
                                 "pick a .safetensors file SafeSteer saved.") from exc
    if not isinstance(header, dict):
        raise SafeSteerFileError(f"{show_path(file_path)} is not a safetensors file (its header is not a JSON object); "
                                 "SafeSteer reads only .safetensors files, re-export or re-create it.")
    if len(header) > _MAX_TENSORS:
        raise SafeSteerFileError(f"{show_path(file_path)} declares {len(header)} tensors; it is not a SafeSteer file.")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise SafeSteerFileError(f"{show_path(file_path)}: safetensors metadata must map strings to strings; "
                                 "the file is damaged or was not written by safetensors, re-create it.")
    if sum(len(k) + len(v) for k, v in metadata.items()) > _MAX_META_CHARS:
        raise SafeSteerFileError(f"{show_path(file_path)}: its metadata is over {_MAX_META_CHARS} characters; "
                                 "it is not a SafeSteer file.")
    data_len = size - 8 - header_len
    tensors: dict[str, TensorInfo] = {}
    for name, entry in header.items():
        tensors[name] = _tensor_info(file_path, name, entry, data_len)
    return FileHeader(file_path, tensors, dict(metadata), 8 + header_len)


def _is_count(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and 0 <= x < (1 << 62)


def _tensor_info(path: Path, name: str, entry: Any, data_len: int) -> TensorInfo:
    """Validate one header entry against the data section's length."""
    shown = printable(name, 80)
    if not isinstance(entry, dict):
        raise SafeSteerFileError(f"{show_path(path)}: tensor {shown!r} has no valid header entry; the file is damaged, copy or re-create it.")
    dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    valid = isinstance(offsets, list) and len(offsets) == 2 and all(_is_count(o) for o in offsets) \
        and offsets[0] <= offsets[1]
    if not valid:
        raise SafeSteerFileError(f"{show_path(path)}: tensor {shown!r} has no valid data offsets; the file is damaged, copy or re-create it.")
    if dtype not in DTYPE_BYTES:
        raise SafeSteerFileError(f"{show_path(path)}: tensor {shown!r} has dtype {printable(dtype, 20)!r}, which "
                                 f"SafeSteer does not read ({', '.join(DTYPE_BYTES)}); re-save it in float32.")
    if not isinstance(shape, list) or len(shape) > 8 or not all(_is_count(d) for d in shape):
        raise SafeSteerFileError(f"{show_path(path)}: tensor {shown!r} has an invalid shape; the file is damaged, copy or re-create it.")
    numel = 1
    for d in shape:
        numel *= d
    if offsets[1] > data_len:
        raise SafeSteerFileError(
            f"{show_path(path)} is truncated: tensor {shown!r} ends at byte {offsets[1]} of the data section but the "
            f"file holds only {data_len} data bytes. Copy or download the file again.")
    if numel * DTYPE_BYTES[dtype] != offsets[1] - offsets[0]:
        raise SafeSteerFileError(
            f"{show_path(path)}: tensor {shown!r} declares shape {shape} ({dtype}) but {offsets[1] - offsets[0]} data "
            "bytes; the file is damaged, copy or re-create it.")
    return TensorInfo(dtype, tuple(shape), (offsets[0], offsets[1]))


def read_safesteer_file(
    path: str | os.PathLike[str],
    expected_kind: str | None = None,
    check: Callable[[FileHeader], None] | None = None,
    max_bytes: int | None = None,
) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Read a SafeSteer file and return ``(tensors, metadata)``; tensors are on the CPU.

    The header is validated first (:func:`read_header`), then its kind and version, then ``check``
    (the kind's own shape and metadata checks against the header), and only then are tensors read.
    Raises SafeSteerFileError for a missing, too large, non-safetensors, truncated or non-SafeSteer
    file, WrongFileKindError when its kind differs from ``expected_kind``, and NonFiniteError when a
    tensor holds NaN/Inf.
    """
    header = read_header(path, max_bytes)
    file_path, metadata = header.path, header.metadata
    kind = metadata.get(KIND_KEY)
    if kind is None:
        raise SafeSteerFileError(
            f"{show_path(file_path)} is a safetensors file but not a SafeSteer file (no {KIND_KEY!r} metadata). "
            "Pick a file SafeSteer saved (directions: Save Safety Direction or SafetyDirection.save)."
        )
    version = metadata.get(VERSION_KEY, "")
    if not (0 < len(version) <= 6 and version.isascii() and version.isdigit()):
        raise SafeSteerFileError(f"{show_path(file_path)}: missing or invalid {VERSION_KEY!r} metadata "
                                 f"({printable(version, 20)!r}); the file is damaged, re-create it.")
    if int(version) > FORMAT_VERSION:
        raise SafeSteerFileError(
            f"{show_path(file_path)} uses SafeSteer format version {version}, newer than this install reads "
            f"({FORMAT_VERSION}); update SafeSteer."
        )
    if expected_kind is not None and kind != expected_kind:
        raise WrongFileKindError(f"{show_path(file_path)} holds a {printable(kind, 40)}, but a {expected_kind} was "
                                 f"expected; pick a {expected_kind} file.")
    if check is not None:
        check(header)
    tensors = header.load()
    for name, tensor in tensors.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise NonFiniteError(
                f"{show_path(file_path)}: tensor {printable(name, 80)!r} contains NaN/Inf values; the file was saved from "
                "a broken computation. Re-create it (in float32) and save again."
            )
    return tensors, dict(metadata)


def peek_kind(path: str | os.PathLike[str]) -> str:
    """Return a SafeSteer file's kind without reading its tensors."""
    header = read_header(path)
    kind = header.metadata.get(KIND_KEY)
    if kind is None:
        raise SafeSteerFileError(f"{show_path(header.path)} is not a SafeSteer file (no {KIND_KEY!r} metadata); "
                                 "pick a file SafeSteer saved.")
    return kind


def require_keys(tensors: dict[str, torch.Tensor], metadata: dict[str, str], tensor_keys: tuple[str, ...],
                 meta_keys: tuple[str, ...], path: str | os.PathLike[str], kind: str) -> None:
    """Raise SafeSteerFileError naming every missing tensor or metadata key."""
    missing = [f"tensor {k!r}" for k in tensor_keys if k not in tensors]
    missing += [f"metadata {k!r}" for k in meta_keys if k not in metadata]
    if missing:
        raise SafeSteerFileError(f"{show_path(path)}: this {kind} file is incomplete, missing {', '.join(missing)}; "
                                 "re-create it.")
