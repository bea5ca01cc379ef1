"""Generation with a local diffusers pipeline (``--backend diffusers --pipeline DIR``).

The pipeline is a folder written by ``pipe.save_pretrained(DIR)``, loaded offline with
``DiffusionPipeline.from_pretrained(DIR, local_files_only=True)``. An item is one pipeline call: its
*call* (prompt, negative prompt, seed, guidance, steps, size, extra ``--pipeline-arg`` values) and its
steering strength; the fingerprint hashes the call, the strength, the pipeline's configs and the direction
file, so the run folder, resume and scorers are the HTTP backend's unchanged.

Steering: ``--direction FILE`` (a SafetyDirection) is applied with
:func:`steering_core.diffusers.steer_pipeline` (options from ``--steer NAME=VALUE``); each item sets the
handle's strength, strength 0 leaves the images bit-identical to an unsteered pipeline. Noise comes from a
CPU ``torch.Generator`` seeded with the item's seed, so an image does not depend on the rank or device
that made it (same weights, same device kind).

Under ``torchrun`` the pipeline of rank ``r`` runs on ``cuda:LOCAL_RANK`` when CUDA is available, else CPU.
"""

from __future__ import annotations

import hashlib
import inspect
import io
import json
import socket
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..errors import SafeSteerError, printable, show_path
from .errors import EvaluationError, MissingPackageError
from .prompts import PromptRow
from .report import fmt_strength
from .template import sha256_json

#: keyword arguments of steer_pipeline that ``--steer NAME=VALUE`` may set
STEER_OPTIONS = ("mode", "sites", "stream", "start_percent", "end_percent", "cond_only", "space")
#: call arguments the harness sets itself (``--pipeline-arg`` may not)
OWN_ARGS = ("prompt", "negative_prompt", "generator", "num_inference_steps", "guidance_scale", "width", "height",
            "output_type", "return_dict")


def pipeline_fingerprint(folder: Path) -> str:
    """SHA-256 over the folder's JSON configs (contents) and every other file's name and size.

    Weights are not hashed (hours for a real model): a weight file rewritten in place with the same size
    goes unnoticed; save a changed pipeline to a new folder."""
    h = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder).as_posix()
        h.update(rel.encode("utf-8", "surrogateescape") + b"\0")
        h.update(path.read_bytes() if path.suffix == ".json" else str(path.stat().st_size).encode())
        h.update(b"\0")
    return h.hexdigest()


def check_pipeline_folder(pipeline: str | Path | None) -> Path:
    """The resolved ``--pipeline`` folder, or an EvaluationError saying what is wrong with it."""
    if pipeline is None or str(pipeline).strip() == "":
        raise EvaluationError("--backend diffusers needs --pipeline DIR (a folder written by pipe.save_pretrained(DIR)).")
    folder = Path(pipeline).expanduser()
    if not folder.is_dir():
        raise EvaluationError(f"--pipeline {show_path(folder)} is not a folder; give the folder written by "
                              "pipe.save_pretrained(DIR).")
    if not (folder / "model_index.json").is_file():
        raise EvaluationError(f"--pipeline {show_path(folder)} has no model_index.json, so it is not a saved diffusers "
                              "pipeline; give the folder written by pipe.save_pretrained(DIR).")
    return folder.resolve()


class DiffusersBackend:
    """Items are pipeline calls; :meth:`generate` runs them on this rank's pipeline (loaded on first use)."""

    name = "diffusers"

    def __init__(self, config: Any):
        self.config = config
        self.folder = check_pipeline_folder(config.pipeline)
        self.source = f"diffusers pipeline {self.folder}"
        self.pipeline_sha = pipeline_fingerprint(self.folder)
        self.direction_path = None if config.direction is None else Path(config.direction).expanduser()
        if self.direction_path is not None and not self.direction_path.is_file():
            raise EvaluationError(f"--direction {show_path(self.direction_path)} is not a file; give a SafetyDirection "
                                  ".safetensors file.")
        self.direction_sha = (hashlib.sha256(self.direction_path.read_bytes()).hexdigest()
                              if self.direction_path is not None else None)
        unknown = sorted(set(config.steer_options) - set(STEER_OPTIONS))
        if unknown:
            raise EvaluationError(f"--steer {', '.join(unknown)}: unknown option(s); known: {', '.join(STEER_OPTIONS)}.")
        if config.steer_options and self.direction_path is None:
            raise EvaluationError("--steer options were given without --direction FILE; nothing would steer.")
        taken = sorted(set(config.pipeline_args) & set(OWN_ARGS))
        if taken:
            raise EvaluationError(f"--pipeline-arg {', '.join(taken)}: set by the harness (use --steps, --width, --height, "
                                  "--guidance, --negative or the prompt file).")
        for flag, value in (("--steps", config.steps), ("--width", config.width), ("--height", config.height)):
            if value is not None and int(value) < 1:
                raise EvaluationError(f"{flag} must be at least 1, got {value}.")
        self.host = socket.gethostname()
        self.pipe: Any = None
        self.handle: Any = None
        self.label = self.host

    # -- items ------------------------------------------------------------------------------------

    def call(self, row: PromptRow, strength: float) -> dict[str, Any]:
        """The pipeline call of one item (JSON; ``generator`` and ``output_type`` are added at run time)."""
        cfg = self.config
        negative = row.negative if row.negative is not None else cfg.negative
        call: dict[str, Any] = {"prompt": row.prompt, "seed": row.seed if row.seed is not None else cfg.seed + row.index}
        if negative:
            call["negative_prompt"] = negative
        guidance = row.guidance if row.guidance is not None else cfg.guidance
        if guidance is not None:
            call["guidance_scale"] = float(guidance)
        if cfg.steps is not None:
            call["num_inference_steps"] = int(cfg.steps)
        for name in ("width", "height"):
            value = getattr(row, name) if getattr(row, name) is not None else getattr(cfg, name)
            if value is not None:
                call[name] = int(value)
        call.update(dict(cfg.pipeline_args))
        return call

    def build_items(self, rows: Sequence[PromptRow], strengths: Sequence[float]) -> list[Any]:
        from .runner import WorkItem

        if self.direction_path is None and any(float(s) != 0.0 for s in strengths):
            raise EvaluationError("--strengths other than 0 need --direction FILE (a SafetyDirection) to steer the "
                                  "diffusers pipeline; otherwise every strength gives the same images.")
        items = []
        for row in rows:
            for s in strengths:
                call = self.call(row, s)
                fingerprint = sha256_json({"call": call, "strength": float(s), "pipeline": self.pipeline_sha,
                                           "direction": self.direction_sha, "steer": dict(self.config.steer_options)})
                items.append(WorkItem(row, float(s), f"p{row.index:05d}_s{fmt_strength(s)}", call["seed"],
                                      call.get("guidance_scale"), call, fingerprint))
        return items

    def manifest_settings(self, prompt_sha: str) -> dict[str, Any]:
        recipe = {"backend": "diffusers", "pipeline_sha256": self.pipeline_sha, "direction_sha256": self.direction_sha,
                  "steer": dict(self.config.steer_options), "pipeline_args": dict(self.config.pipeline_args),
                  "steps": self.config.steps, "width": self.config.width, "height": self.config.height}
        return {
            "backend": "diffusers",
            "template_sha256": sha256_json(recipe),     # the store's key for "what makes the images"
            "prompts_sha256": prompt_sha,
            "pipeline": str(self.folder),
            "seed_base": int(self.config.seed),
            "guidance_default": self.config.guidance,
            "negative_default": self.config.negative,
        }

    # -- generation --------------------------------------------------------------------------------

    def _load(self, rank: int, local_rank: int, world: int) -> None:
        try:
            import torch
            from diffusers import DiffusionPipeline
        except ImportError as exc:
            raise MissingPackageError(f"--backend diffusers needs diffusers: pip install 'safesteer[diffusers]' ({exc}).") from None
        try:
            pipe = DiffusionPipeline.from_pretrained(str(self.folder), local_files_only=True)
        except Exception as exc:  # diffusers raises many kinds; one line that names the folder
            raise EvaluationError(f"--pipeline {show_path(self.folder)} cannot be loaded by diffusers: "
                                  f"{type(exc).__name__}: {printable(exc, 200)}") from None
        device = f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"
        pipe.to(device)
        if hasattr(pipe, "set_progress_bar_config"):
            pipe.set_progress_bar_config(disable=True)
        self.accepted = set(inspect.signature(pipe.__call__).parameters)
        if self.direction_path is not None:
            from ..directions.direction import SafetyDirection
            from ..diffusers import steer_pipeline

            direction = SafetyDirection.load(self.direction_path)
            self.handle = steer_pipeline(pipe, direction, strength=0.0, **dict(self.config.steer_options))
        self.pipe = pipe
        self.label = f"{self.host}/rank{rank}" if world > 1 else self.host

    def _image_bytes(self, image: Any) -> bytes:
        buf = io.BytesIO()
        image.save(buf, format="PNG")
        return buf.getvalue()

    def run_item(self, item: Any) -> tuple[list[bytes], float]:
        """One item's images (PNG bytes) and seconds."""
        import torch

        call = dict(item.graph)
        seed = int(call.pop("seed"))
        missing = sorted(k for k in call if k not in self.accepted)
        if missing:
            raise EvaluationError(f"{type(self.pipe).__name__} takes no {', '.join(missing)} (from the prompt file, "
                                  "--negative or --pipeline-arg); drop it, or use a pipeline that does.")
        if self.handle is not None:
            self.handle.set_strength(item.strength)
        t0 = time.perf_counter()
        out = self.pipe(**call, generator=torch.Generator("cpu").manual_seed(seed), output_type="pil")
        seconds = time.perf_counter() - t0
        return [self._image_bytes(im) for im in out.images], seconds

    def generate(self, store: Any, todo: Sequence[Any], scorers: Any, progress: Any,
                 on_item: Callable[[dict[str, Any]], None] | None, ranks: Any = None) -> tuple[int, int]:
        """Run ``todo`` in order on this process; each item's images then its record are written atomically."""
        from .runner import _image_rel, _record

        if self.pipe is None:
            self._load(getattr(ranks, "rank", 0), getattr(ranks, "local_rank", 0), getattr(ranks, "world", 1))
        generated = 0
        for item in todo:
            try:
                images, seconds = self.run_item(item)
            except SafeSteerError:
                raise
            except Exception as exc:  # a failing call is a bug or a bad setting for every item: stop, show it
                raise EvaluationError(f"item {item.key}: the pipeline failed: {type(exc).__name__}: {printable(exc, 200)}") from exc
            rels = []
            for i, data in enumerate(images):
                rel = _image_rel(item, i, "image.png")
                store.write_image(rel, data)
                rels.append(rel)
            record = _record(item, self.label, _Outcome(seconds), rels)
            store.write_record(record)
            scorers.score_records(store, [record])
            generated += 1
            progress.item(item, self.label, seconds, scorers.verdicts(record))
            if on_item is not None:
                on_item(record)
        return generated, 0

    def posted(self) -> dict[str, int]:
        return {}


class _Outcome:
    """What :func:`runner._record` reads from an HTTP outcome: no prompt id, the seconds."""

    prompt_id = ""

    def __init__(self, seconds: float):
        self.seconds = seconds


def parse_assignments(entries: Sequence[str], flag: str) -> dict[str, Any]:
    """``["mode=add", "cond_only=false", "max_sequence_length=24"]`` -> values parsed as JSON when they are JSON."""
    out: dict[str, Any] = {}
    for entry in entries:
        name, sep, raw = entry.partition("=")
        if not sep or not name.strip():
            raise EvaluationError(f"{flag} {entry!r}: expected NAME=VALUE.")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        out[name.strip()] = value
    return out

