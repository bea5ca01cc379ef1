"""Activations on disk as streaming shards, and datasets that read them back in seeded batches.

A shard folder holds one site's activations: ``shard_000000.safetensors``, ... (SafeSteer files
of kind ``ActivationShard``: tensor ``acts [n, D]`` and one ``label.<name> [n]`` per label
column; metadata ``safesteer.site``, ``safesteer.d``, ``safesteer.rows``, ``safesteer.labels``)
and ``manifest.json`` (site, d, storage dtype, label columns with their dtypes, and the shard
files with their row counts in writing order). The manifest is rewritten (atomically) after every
shard, so a crashed harvest leaves a readable folder of the shards written so far.

Label columns are ``int64`` (integer or bool labels) or ``float32``; activations are stored in
float32, bfloat16 or float16 and always read back as float32.

Batch order (``iter_batches``): epoch ``e`` with seed ``s`` visits the shards in the permutation
``numpy.random.default_rng([s, e]).permutation(n_shards)`` and, inside shard ``i``, the rows in
the permutation ``default_rng([s, e, i]).permutation(n_rows_i)``; the rows of the epoch form one
stream cut into consecutive batches (a batch may span two shards). Only one shard (plus less than
one batch carried over) is in memory at a time. The order depends only on ``(seed, epoch)``, so
``start_batch=b`` yields exactly the batches ``b, b+1, ...`` of the full epoch, which makes
training resumable at any batch.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch
from safetensors import safe_open

from ..errors import DimensionMismatchError, SafeSteerError, SafeSteerFileError, printable, show_path
from ..files.format import FLOAT_DTYPES, INT_DTYPES, KIND_KEY, MAX_DIM, encode_json, read_header, write_safesteer_file
from ..validation import require_finite

KIND = "ActivationShard"
MANIFEST = "manifest.json"
MANIFEST_FORMAT = "SafeSteerActivationShards"
STORAGE_DTYPES: dict[str, torch.dtype] = {"float32": torch.float32, "bfloat16": torch.bfloat16,
                                          "float16": torch.float16}
LABEL_DTYPES: dict[str, torch.dtype] = {"int64": torch.int64, "float32": torch.float32}

Batch = tuple[torch.Tensor, dict[str, torch.Tensor]]


def _dtype_name(dtype: torch.dtype) -> str:
    for name, dt in STORAGE_DTYPES.items():
        if dt == dtype:
            return name
    raise SafeSteerError(f"activation shards are stored as {', '.join(STORAGE_DTYPES)}; got {dtype}.")


def _shard_name(index: int) -> str:
    return f"shard_{index:06d}.safetensors"


def _write_json_atomic(path: Path, value: object) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=str(path.parent))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(value, fh, indent=1, sort_keys=True)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def read_manifest(folder: str | os.PathLike[str]) -> dict[str, object] | None:
    """The folder's manifest as a dict, or None when there is none; a damaged one is an error."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise SafeSteerFileError(f"{show_path(path)} is not valid JSON ({printable(exc, 120)}); delete the shard folder "
                                 "and harvest again.") from exc
    keys = ("format", "site", "d", "dtype", "labels", "shards")
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT or any(k not in manifest for k in keys):
        raise SafeSteerFileError(f"{show_path(path)} is not a SafeSteer activation-shard manifest (it needs the keys "
                                 f"{', '.join(keys)} and format {MANIFEST_FORMAT!r}); harvest again.")
    shards, labels, d = manifest["shards"], manifest["labels"], manifest["d"]
    valid = isinstance(manifest["site"], str) and isinstance(d, int) and not isinstance(d, bool) and 1 <= d <= MAX_DIM \
        and isinstance(labels, dict) and all(isinstance(k, str) and v in ("int64", "float32") for k, v in labels.items()) \
        and isinstance(shards, list) and all(
            isinstance(e, dict) and isinstance(e.get("file"), str) and Path(e["file"]).name == e["file"]
            and isinstance(e.get("rows"), int) and not isinstance(e.get("rows"), bool) and e["rows"] >= 0 for e in shards)
    if not valid:
        raise SafeSteerFileError(f"{show_path(path)} is damaged: 'site' must be a string, 'd' an integer in [1, {MAX_DIM}], "
                                 "'labels' map names to int64/float32 and 'shards' list {file, rows} entries of this "
                                 "folder; delete the shard folder and harvest again.")
    return manifest


def _label_dtype_name(values: torch.Tensor) -> str:
    return "float32" if values.is_floating_point() else "int64"


class ShardWriter:
    """Buffer activations of one site and write them to ``folder`` as shards of ``rows_per_shard`` rows.

    ``add(acts [N, D], labels)`` copies rows into a single preallocated shard buffer and writes
    every full shard; ``close()`` writes the last partial shard and marks the manifest complete.
    A folder that already holds shards of this site and size is appended to (``append=True``,
    the default) or refused (``append=False``); one holding another site or size is refused.
    Use as a context manager to close on exit.
    """

    def __init__(self, folder: str | os.PathLike[str], site: str, d: int, rows_per_shard: int = 65536,
                 dtype: torch.dtype = torch.float32, append: bool = True):
        if int(d) < 1 or int(rows_per_shard) < 1:
            raise SafeSteerError(f"ShardWriter needs d >= 1 and rows_per_shard >= 1, got d={d}, "
                                 f"rows_per_shard={rows_per_shard}.")
        self.folder, self.site, self.d = Path(folder), str(site), int(d)
        self.rows_per_shard, self.dtype = int(rows_per_shard), dtype
        self._dtype_name = _dtype_name(dtype)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._shards: list[dict[str, object]] = []
        self._labels: dict[str, str] | None = None  # column name -> "int64" / "float32"
        self._check_existing(append)
        self._acts: torch.Tensor | None = None
        self._label_bufs: dict[str, torch.Tensor] = {}
        self._fill = 0
        self._closed = False

    # ------------------------------------------------------------------ existing folder
    def _refuse(self, what: str) -> SafeSteerError:
        return SafeSteerError(f"shard folder {self.folder} already holds {what}, but this writer is for site "
                              f"{self.site!r} with d={self.d}; write into another folder or delete that one.")

    def _check_existing(self, append: bool) -> None:
        manifest = read_manifest(self.folder)
        if manifest is not None:
            if manifest["site"] != self.site or int(manifest["d"]) != self.d:  # type: ignore[arg-type]
                raise self._refuse(f"shards of site {manifest['site']!r} with d={manifest['d']}")
            if manifest["dtype"] != self._dtype_name:
                raise SafeSteerError(f"shard folder {self.folder} stores activations as {manifest['dtype']}; "
                                     f"append with dtype={manifest['dtype']} or use another folder.")
            if manifest["shards"] and not append:
                raise SafeSteerError(f"shard folder {self.folder} already holds {len(manifest['shards'])} shard(s) "
                                     "of this site; pass append=True to add to them, or delete the folder.")
            self._shards = list(manifest["shards"])  # type: ignore[arg-type]
            self._labels = dict(manifest["labels"]) if self._shards else None  # type: ignore[arg-type]
        listed = {str(s["file"]) for s in self._shards}
        for path in sorted(self.folder.glob("shard_*.safetensors")):
            if path.name in listed:
                continue
            try:
                with safe_open(str(path), framework="pt", device="cpu") as fh:
                    meta = fh.metadata() or {}
            except Exception:  # noqa: BLE001 - an unreadable stray file is left alone and never read
                continue
            if meta.get(KIND_KEY) == KIND and (meta.get("safesteer.site") != self.site
                                               or meta.get("safesteer.d") != str(self.d)):
                raise self._refuse(f"shards of site {meta.get('safesteer.site')!r} with d={meta.get('safesteer.d')}")

    # ------------------------------------------------------------------ writing
    @property
    def rows_written(self) -> int:
        """Rows added so far (written shards plus the buffer), including appended-to shards."""
        return sum(int(s["rows"]) for s in self._shards) + self._fill  # type: ignore[arg-type]

    def _clean_labels(self, labels: dict[str, object] | None, n: int) -> dict[str, torch.Tensor]:
        clean: dict[str, torch.Tensor] = {}
        for name, values in (labels or {}).items():
            if not isinstance(name, str) or not name or "/" in name:
                raise SafeSteerError(f"label column names must be non-empty strings without '/', got {name!r}.")
            t = torch.as_tensor(values).detach().to("cpu")
            if t.ndim == 0:
                t = t.expand(n)
            if tuple(t.shape) != (n,):
                raise SafeSteerError(f"label {name!r} has shape {tuple(t.shape)} but the activations have {n} rows; "
                                     "give one label value per row.")
            require_finite(t, f"label {name!r}")
            clean[name] = t.to(LABEL_DTYPES[_label_dtype_name(t)])
        schema = {name: _label_dtype_name(t) for name, t in clean.items()}
        if self._labels is None:
            self._labels = schema
        elif schema != self._labels:
            raise SafeSteerError(f"label columns {schema or 'none'} differ from those written before "
                                 f"({self._labels or 'none'}) in {self.folder}; every add() needs the same label "
                                 "names and kinds (integer or float).")
        return clean

    def add(self, acts: torch.Tensor, labels: dict[str, object] | None = None) -> None:
        """Append ``acts [N, D]`` with optional per-row ``labels`` (name -> ``[N]`` tensor or a scalar)."""
        if self._closed:
            raise SafeSteerError(f"this ShardWriter for {self.folder} is closed; open a new one to append.")
        if not isinstance(acts, torch.Tensor) or acts.ndim != 2:
            raise SafeSteerError(f"ShardWriter.add needs activations of shape [N, D], got "
                                 f"{tuple(acts.shape) if isinstance(acts, torch.Tensor) else type(acts).__name__}.")
        if acts.shape[1] != self.d:
            raise DimensionMismatchError(f"activations of site {self.site!r} have size {acts.shape[1]} but the shard "
                                         f"folder {self.folder} holds size {self.d}.")
        n = acts.shape[0]
        clean = self._clean_labels(labels, n)
        if n == 0:
            return
        stored = acts.detach().to("cpu").to(self.dtype)
        require_finite(stored, f"activations of site {self.site!r} (as {self._dtype_name})")
        if self._acts is None:
            self._acts = torch.empty(self.rows_per_shard, self.d, dtype=self.dtype)
            self._label_bufs = {k: torch.empty(self.rows_per_shard, dtype=LABEL_DTYPES[v])
                                for k, v in (self._labels or {}).items()}
        i = 0
        while i < n:
            take = min(self.rows_per_shard - self._fill, n - i)
            self._acts[self._fill:self._fill + take] = stored[i:i + take]
            for name, buf in self._label_bufs.items():
                buf[self._fill:self._fill + take] = clean[name][i:i + take]
            self._fill += take
            i += take
            if self._fill == self.rows_per_shard:
                self._flush()

    def _flush(self) -> None:
        if self._fill == 0 or self._acts is None:
            return
        name = _shard_name(len(self._shards))
        tensors = {"acts": self._acts[:self._fill]}
        tensors.update({f"label.{k}": v[:self._fill] for k, v in self._label_bufs.items()})
        meta = {"safesteer.site": self.site, "safesteer.d": str(self.d), "safesteer.rows": str(self._fill),
                "safesteer.labels": encode_json(self._labels or {})}
        write_safesteer_file(self.folder / name, KIND, tensors, meta, overwrite=True)
        self._shards.append({"file": name, "rows": self._fill})
        self._fill = 0
        self._write_manifest(complete=False)

    def _write_manifest(self, complete: bool) -> None:
        rows = sum(int(s["rows"]) for s in self._shards)  # type: ignore[arg-type]
        _write_json_atomic(self.folder / MANIFEST, {
            "format": MANIFEST_FORMAT, "version": 1, "site": self.site, "d": self.d, "dtype": self._dtype_name,
            "labels": self._labels or {}, "shards": self._shards, "rows": rows, "complete": complete})

    def close(self) -> None:
        """Write the buffered rows as a last (smaller) shard and the final manifest; idempotent."""
        if self._closed:
            return
        self._flush()
        self._write_manifest(complete=True)
        self._acts, self._label_bufs, self._closed = None, {}, True

    def __enter__(self) -> "ShardWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class BatchSource:
    """Seeded batch iteration over data split into shards (see the module docstring for the order).

    Subclasses provide ``d``, ``label_names``, ``shard_rows`` and ``_load(i, columns)``.
    """

    d: int
    label_names: tuple[str, ...]
    shard_rows: list[int]

    def _load(self, index: int, columns: Sequence[str]) -> Batch:  # pragma: no cover - abstract
        raise NotImplementedError

    def __len__(self) -> int:
        return sum(self.shard_rows)

    def _columns(self, columns: Sequence[str] | None) -> list[str]:
        if columns is None:
            return list(self.label_names)
        unknown = [c for c in columns if c not in self.label_names]
        if unknown:
            raise SafeSteerError(f"unknown label column(s) {unknown}; this dataset has {list(self.label_names) or 'none'}.")
        return list(columns)

    def batches_per_epoch(self, batch_size: int, drop_last: bool = True) -> int:
        if batch_size < 1:
            raise SafeSteerError(f"batch_size must be >= 1, got {batch_size}.")
        n = len(self)
        return n // batch_size if drop_last else math.ceil(n / batch_size)

    def iter_batches(self, batch_size: int, seed: int = 0, epoch: int = 0, start_batch: int = 0,
                     columns: Sequence[str] | None = None, drop_last: bool = False) -> Iterator[Batch]:
        """Yield ``(acts float32 [b, D], labels {name: [b]})`` for one epoch, from batch ``start_batch`` on.

        ``b == batch_size`` except for a last partial batch, which is dropped when ``drop_last``.
        """
        cols = self._columns(columns)
        n_batches = self.batches_per_epoch(batch_size, drop_last)
        if seed < 0 or epoch < 0 or not 0 <= start_batch <= n_batches:
            raise SafeSteerError(f"iter_batches needs seed >= 0, epoch >= 0 and 0 <= start_batch <= {n_batches} "
                                 f"(batches in an epoch), got seed={seed}, epoch={epoch}, start_batch={start_batch}.")
        order = np.random.default_rng([seed, epoch]).permutation(len(self.shard_rows))
        remaining = (n_batches - start_batch) * batch_size if drop_last else len(self) - start_batch * batch_size
        skip = start_batch * batch_size
        carry: list[Batch] = []
        carried = 0
        for shard in order.tolist():
            rows = self.shard_rows[shard]
            if skip >= rows:
                skip -= rows
                continue
            if remaining <= 0:
                break
            acts, labels = self._load(shard, cols)
            perm = torch.from_numpy(np.random.default_rng([seed, epoch, shard]).permutation(rows))
            pos = skip
            skip = 0
            while pos < rows and remaining > 0:
                take = min(batch_size - carried, rows - pos, remaining)
                idx = perm[pos:pos + take]
                carry.append((acts[idx], {k: v[idx] for k, v in labels.items()}))
                carried += take
                pos += take
                remaining -= take
                if carried == batch_size or remaining == 0:
                    yield _concat(carry, cols)
                    carry, carried = [], 0
            del acts, labels

    def iter_all(self, columns: Sequence[str] | None = None, batch_size: int | None = None) -> Iterator[Batch]:
        """Yield every row once in storage order: one chunk per shard, or chunks of ``batch_size`` rows."""
        cols = self._columns(columns)
        for shard in range(len(self.shard_rows)):
            acts, labels = self._load(shard, cols)
            step = batch_size or max(acts.shape[0], 1)
            for a in range(0, acts.shape[0], step):
                yield acts[a:a + step], {k: v[a:a + step] for k, v in labels.items()}

    def sample(self, n: int, seed: int = 0) -> torch.Tensor:
        """``min(n, len)`` distinct rows drawn uniformly without replacement, float32 ``[n, D]``
        (in storage order); used to initialise an SAE (input scale, geometric median)."""
        total = len(self)
        if total == 0:
            raise SafeSteerError("cannot sample from an empty activation dataset; harvest activations first.")
        n = min(int(n), total)
        idx = np.sort(np.random.default_rng([seed]).choice(total, size=n, replace=False))
        starts = np.concatenate([[0], np.cumsum(self.shard_rows)])
        shard_of = np.searchsorted(starts, idx, side="right") - 1
        parts = []
        for shard in np.unique(shard_of).tolist():
            acts, _ = self._load(shard, [])
            local = torch.from_numpy(idx[shard_of == shard] - starts[shard])
            parts.append(acts[local])
        return torch.cat(parts)


def _concat(parts: list[Batch], cols: list[str]) -> Batch:
    if len(parts) == 1:
        return parts[0]
    return torch.cat([p[0] for p in parts]), {c: torch.cat([p[1][c] for p in parts]) for c in cols}


class ShardDataset(BatchSource):
    """The activations in a shard folder written by :class:`ShardWriter` (read back as float32).

    Attributes: ``folder``, ``site``, ``d``, ``dtype`` (storage dtype name), ``label_dtypes``
    (column -> ``"int64"``/``"float32"``), ``label_names`` (sorted), ``shard_files``, ``shard_rows``,
    ``complete`` (False while a writer is still adding, or after a crash).
    """

    def __init__(self, folder: str | os.PathLike[str]):
        self.folder = Path(folder)
        manifest = read_manifest(self.folder)
        if manifest is None:
            raise SafeSteerFileError(f"{self.folder} holds no {MANIFEST}; it is not a shard folder written by "
                                     "ShardWriter (harvest activations into it first).")
        self.site, self.d = str(manifest["site"]), int(manifest["d"])  # type: ignore[arg-type]
        self.dtype = str(manifest["dtype"])
        self.label_dtypes: dict[str, str] = dict(manifest["labels"])  # type: ignore[arg-type]
        self.label_names = tuple(sorted(self.label_dtypes))
        self.shard_files = [str(s["file"]) for s in manifest["shards"]]  # type: ignore[union-attr]
        self.shard_rows = [int(s["rows"]) for s in manifest["shards"]]  # type: ignore[union-attr]
        self.complete = bool(manifest.get("complete", False))
        for name in self.shard_files:
            if not (self.folder / name).is_file():
                raise SafeSteerFileError(f"{self.folder}: shard {name} is listed in {MANIFEST} but missing; the "
                                         "folder is incomplete, harvest again.")

    def _load(self, index: int, columns: Sequence[str]) -> Batch:
        path = self.folder / self.shard_files[index]
        header = read_header(path)
        if header.metadata.get(KIND_KEY) != KIND:
            raise header.fail("it is not an ActivationShard file", "harvest again.")
        rows = self.shard_rows[index]
        header.expect("acts", (rows, self.d))
        for c in columns:
            dtypes = FLOAT_DTYPES if self.label_dtypes.get(c) == "float32" else INT_DTYPES
            header.expect(f"label.{c}", (rows,), dtypes)
        try:
            with safe_open(str(path), framework="pt", device="cpu") as fh:
                acts = fh.get_tensor("acts")
                labels = {c: fh.get_tensor(f"label.{c}") for c in columns}
        except Exception as exc:  # noqa: BLE001 - safetensors raises its own error types
            raise SafeSteerFileError(f"{show_path(path)} could not be read as an activation shard "
                                     f"({printable(exc, 160)}); harvest again.") from exc
        acts = acts.to(torch.float32)
        require_finite(acts, f"activations in {path}")
        return acts, labels


class InMemoryActivations(BatchSource):
    """An in-memory ``[N, D]`` tensor (plus optional ``[N]`` label columns) with the same batch
    interface as :class:`ShardDataset`; ``shard_rows`` splits it into virtual shards (default: one)."""

    def __init__(self, acts: torch.Tensor, labels: dict[str, torch.Tensor] | None = None,
                 shard_rows: int | None = None):
        if not isinstance(acts, torch.Tensor) or acts.ndim != 2:
            raise SafeSteerError("InMemoryActivations needs a tensor of shape [N, D].")
        require_finite(acts, "activations")
        self.acts = acts.detach().to("cpu", torch.float32)
        n, self.d = self.acts.shape
        self.labels = {}
        for name, v in (labels or {}).items():
            t = torch.as_tensor(v).detach().to("cpu")
            if tuple(t.shape) != (n,):
                raise SafeSteerError(f"label {name!r} has shape {tuple(t.shape)}, expected ({n},).")
            self.labels[name] = t.to(LABEL_DTYPES[_label_dtype_name(t)])
        self.label_names = tuple(sorted(self.labels))
        size = int(shard_rows or max(n, 1))
        self._starts = list(range(0, n, size))
        self.shard_rows = [min(size, n - s) for s in self._starts]
        self.site = "memory"

    def _load(self, index: int, columns: Sequence[str]) -> Batch:
        a = self._starts[index]
        b = a + self.shard_rows[index]
        return self.acts[a:b], {c: self.labels[c][a:b] for c in columns}
