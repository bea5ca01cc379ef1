"""The run folder: manifest, one JSON record per item (written atomically), images, a lock.

Layout of ``<out>/``::

    manifest.json            settings that fix what an item's images are (template, prompt file, defaults)
    items/<key>.json         one record per finished (or failed) item; written last, so it marks the item done
    images/<strength>/<row>.png
    features/<extractor>.npz FID features per image (a cache)
    results.csv  summary.md  summary.json  asr_clip_vs_strength.png

A record is written to a temporary file and moved into place (``os.replace``), after its images;
a run killed at any moment leaves either a complete record or none, so a re-run redoes at most the
items that were in flight. Stray ``*.tmp`` files from such a kill are removed when a run starts.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import printable, show_path
from .errors import EvaluationError

MANIFEST = "manifest.json"
LOCK = ".lock"
REPORT_FILES = ("results.csv", "summary.md", "summary.json", "asr_clip_vs_strength.png")
OWN_DIRS = ("items", "images", "features")
#: the manifest's mark that SafeSteer made this folder (manifests of earlier versions lack it and are accepted)
OWNER_KEY = "written_by"
OWNER = "steering_core.evaluate"
MAX_MANIFEST_BYTES = 16 << 20


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def atomic_write_json(path: Path, value: Any) -> None:
    atomic_write_bytes(path, (json.dumps(value, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8"))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RunStore:
    """One run folder. :meth:`open` takes the lock and checks (or writes) the manifest."""

    def __init__(self, out: str | os.PathLike[str]):
        self.out = Path(out).expanduser().resolve()
        self.items_dir = self.out / "items"
        self.images_dir = self.out / "images"
        self.features_dir = self.out / "features"
        self._locked = False

    # -- lifecycle ----------------------------------------------------------------------------------

    def open(self, settings: Mapping[str, Any], *, force: bool = False) -> None:
        """Take the lock and check the folder: new or empty, or a SafeSteer run with these ``settings``.

        A folder that holds anything but no SafeSteer manifest is refused, with or without ``force``:
        SafeSteer never writes into, or deletes from, a folder it did not make. ``force`` deletes only
        what :meth:`clear` finds listed by this run's manifest and records.
        """
        shown = show_path(self.out)
        if self.out.exists() and not self.out.is_dir():
            raise EvaluationError(f"--out {shown} is an existing file, not a folder; give a new folder (or a previous "
                                  "run's folder to resume it).")
        try:
            self.out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise EvaluationError(f"--out {shown} cannot be created ({exc.strerror}); give a folder you can write.") from None
        self._lock()
        try:
            manifest = self.read_manifest()
            if manifest is None:
                stray = sorted(p.name for p in self.out.iterdir() if p.name != LOCK)
                if stray:
                    raise EvaluationError(
                        f"--out {shown} is not empty ({len(stray)} entries, e.g. {printable(stray[0], 60)!r}) and holds no "
                        f"SafeSteer run ({MANIFEST} is missing); SafeSteer never writes into or deletes from a folder it "
                        "did not make, even with --force. Give a new or empty folder.")
            elif force:
                self.clear()
            else:
                old = {k: v for k, v in manifest.items() if k != OWNER_KEY}
                diff = [k for k in sorted(set(old) | set(settings)) if old.get(k) != settings.get(k)]
                if diff:
                    details = "; ".join(f"{k}: {printable(repr(old.get(k)), 80)} then, {printable(repr(settings.get(k)), 80)} "
                                        "now" for k in diff)
                    raise EvaluationError(
                        f"{shown} holds a run made with other settings ({details}). Its images would not match these "
                        "settings: use a new --out folder, or --force to delete that run's items, images and reports "
                        "and start over.")
            self._clean_tmp()
            atomic_write_json(self.out / MANIFEST, {**settings, OWNER_KEY: OWNER})
        except BaseException:
            self.close()
            raise

    def read_manifest(self) -> dict[str, Any] | None:
        """This folder's manifest, None when there is none; a damaged or foreign one is an EvaluationError."""
        path = self.out / MANIFEST
        if not path.exists():
            return None
        fix = "move this folder away and use a new --out folder (SafeSteer will not delete files it cannot vouch for)."
        try:
            if not path.is_file() or path.stat().st_size > MAX_MANIFEST_BYTES:
                raise EvaluationError(f"{show_path(path)} is not a SafeSteer run manifest (not a small JSON file); {fix}")
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            raise EvaluationError(f"{show_path(path)} is damaged (not UTF-8 JSON: {printable(exc, 80)}); {fix}") from None
        except OSError as exc:
            raise EvaluationError(f"{show_path(path)} cannot be read ({exc.strerror}); {fix}") from None
        if not isinstance(manifest, dict) or manifest.get(OWNER_KEY, OWNER) != OWNER \
                or not {"template_sha256", "prompts_sha256"} <= set(manifest):
            raise EvaluationError(f"{show_path(path)} is not a SafeSteer run manifest (a JSON object with "
                                  f"template_sha256, prompts_sha256, ...); {fix}")
        return manifest

    def clear(self) -> None:
        """Delete what this run wrote here, and nothing else.

        Deleted: every record ``items/<key>.json`` that is a SafeSteer record of that key, the images it
        lists (inside ``images/``), ``features/*.npz``, the report files and the manifest; then the
        folders this leaves empty. Any other file (a user's own ``images/holiday.png``) stays.
        """
        images_root = self.images_dir.resolve()
        for record_path in sorted(self.items_dir.glob("*.json")) if self.items_dir.is_dir() else []:
            record = self._read_json(record_path)
            if not isinstance(record, dict) or record.get("key") != record_path.stem:
                continue
            for rel in record.get("images") or []:
                target = (self.out / str(rel)).resolve()
                if target.is_relative_to(images_root) and target.is_file():
                    target.unlink()
            record_path.unlink()
        if self.features_dir.is_dir():
            for cache in self.features_dir.glob("*.npz"):
                cache.unlink()
        for name in REPORT_FILES:
            (self.out / name).unlink(missing_ok=True)
        for folder in sorted((p for d in OWN_DIRS if (self.out / d).is_dir() for p in (self.out / d).rglob("*")
                              if p.is_dir()), key=lambda p: -len(p.parts)) + [self.out / d for d in OWN_DIRS]:
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        (self.out / MANIFEST).unlink(missing_ok=True)

    @staticmethod
    def _read_json(path: Path) -> Any:
        try:
            if path.stat().st_size > MAX_MANIFEST_BYTES:
                return None
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            return None

    def _clean_tmp(self) -> None:
        for folder in (self.out, *(self.out / d for d in OWN_DIRS)):
            if folder.is_dir():
                for tmp in folder.rglob(".*.tmp"):
                    tmp.unlink(missing_ok=True)

    def _lock(self) -> None:
        path = self.out / LOCK
        me = f"{socket.gethostname()} {os.getpid()}"
        for _ in range(2):
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                try:
                    host, pid = path.read_text().split()
                except (OSError, ValueError):
                    host, pid = "", "0"
                if host == socket.gethostname() and pid.isdigit() and int(pid) != os.getpid() and _pid_alive(int(pid)):
                    raise EvaluationError(f"another evaluation (pid {pid}) is using {self.out}; wait for it or use another --out folder.") from None
                if host and host != socket.gethostname():
                    raise EvaluationError(f"{self.out} is locked by a run on {host} (pid {pid}); delete {path} if that run is gone.") from None
                path.unlink(missing_ok=True)     # stale: its process is gone
                continue
            with os.fdopen(fd, "w") as f:
                f.write(me)
            self._locked = True
            return
        raise EvaluationError(f"cannot take the lock {path}.")

    def close(self) -> None:
        if self._locked:
            (self.out / LOCK).unlink(missing_ok=True)
            self._locked = False

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- items --------------------------------------------------------------------------------------

    def record_path(self, key: str) -> Path:
        return self.items_dir / f"{key}.json"

    def read_record(self, key: str) -> dict[str, Any] | None:
        path = self.record_path(key)
        if not path.is_file():
            return None
        record = self._read_json(path)
        return record if self._record_ok(record, key) else None   # a damaged record: the item is not done

    def _record_ok(self, record: Any, key: str) -> bool:
        """A record of ``key`` whose fields have the types the run reads, its images inside ``images/``."""
        if not isinstance(record, dict) or record.get("key") != key or not isinstance(record.get("status"), str):
            return False
        images = record.get("images", [])
        root = self.images_dir.resolve()
        if not isinstance(images, list) or not all(
                isinstance(r, str) and (self.out / r).resolve().is_relative_to(root) for r in images):
            return False
        return all(record.get(k) is None or isinstance(record[k], dict) for k in ("scores", "clip"))

    def write_record(self, record: Mapping[str, Any]) -> None:
        atomic_write_json(self.record_path(str(record["key"])), dict(record))

    def write_image(self, rel: str, data: bytes) -> Path:
        path = self.out / rel
        atomic_write_bytes(path, data)
        return path
