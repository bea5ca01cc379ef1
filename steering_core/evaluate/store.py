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
import shutil
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .errors import EvaluationError

MANIFEST = "manifest.json"
LOCK = ".lock"
REPORT_FILES = ("results.csv", "summary.md", "summary.json", "asr_clip_vs_strength.png")
OWN_DIRS = ("items", "images", "features")


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
        self.out.mkdir(parents=True, exist_ok=True)
        self._lock()
        try:
            manifest_path = self.out / MANIFEST
            if force:
                self.clear()
            elif manifest_path.is_file():
                old = json.loads(manifest_path.read_text(encoding="utf-8"))
                diff = [k for k in sorted(set(old) | set(settings)) if old.get(k) != settings.get(k)]
                if diff:
                    details = "; ".join(f"{k}: {old.get(k)!r} then, {settings.get(k)!r} now" for k in diff)
                    raise EvaluationError(
                        f"{self.out} holds a run made with other settings ({details}). Its images would not match these settings: "
                        "use a new --out folder, or --force to delete that run's items, images and reports and start over."
                    )
            elif self.items_dir.exists() and any(self.items_dir.iterdir()):
                raise EvaluationError(f"{self.out}/items holds records but no {MANIFEST}; use a new --out folder or --force.")
            self._clean_tmp()
            atomic_write_json(manifest_path, dict(settings))
        except BaseException:
            self.close()
            raise

    def clear(self) -> None:
        """Delete what a run wrote here (items, images, features, reports, manifest); nothing else."""
        for name in OWN_DIRS:
            shutil.rmtree(self.out / name, ignore_errors=True)
        for name in (*REPORT_FILES, MANIFEST):
            (self.out / name).unlink(missing_ok=True)

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
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError):
            return None          # cannot happen with atomic writes; treat as not done

    def write_record(self, record: Mapping[str, Any]) -> None:
        atomic_write_json(self.record_path(str(record["key"])), dict(record))

    def write_image(self, rel: str, data: bytes) -> Path:
        path = self.out / rel
        atomic_write_bytes(path, data)
        return path
