"""The evaluation run: items = prompts x strengths, generated on one or more ComfyUI servers, scored, reported.

:func:`run_evaluation` is the whole harness (the CLI is a thin wrapper over it):

1. read the prompt file and the template; build every item's filled prompt (its *fingerprint* is the
   hash of that prompt: what the server is asked to compute);
2. build the scorers first, so missing weights or packages fail before any image is generated;
3. open the run folder (lock, manifest check) and skip items whose record is already there;
4. one worker thread per server (``jobs_per_server`` each) takes items from a shared queue, queues
   them on its server, waits and downloads the images; the main thread writes images and the record,
   scores the images and prints a progress line. A server that stops answering hands its item back
   to the queue (another server takes it) and leaves the pool after ``retries`` failed tries;
5. scores missing for earlier items (a classifier added later) are computed, then FID, then the reports.

Seeds come from the prompt file (or ``seed + row index``), never from the server, so an item's
images do not depend on which server ran it (given the same models, ComfyUI version and device kind).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import math
import queue
import sys
import threading
import time
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from .classifiers import (
    CheckedClassifier,
    ClassifierResult,
    ImageClassifier,
    build_classifier,
    classifier_key,
)
from ..errors import printable
from .client import ComfyClient, PromptOutcome
from .clip_score import ClipScorer
from .distributed import Ranks
from .distributed import join as join_ranks
from .errors import (
    EvaluationError,
    PromptFailed,
    ServerUnavailable,
    TemplateRejected,
    require_pillow,
)
from .fid import build_feature_extractor, fid_from_features, list_images
from .prompts import PromptRow, read_prompt_file
from .report import ClassifierInfo, ImageRow, fmt_strength, summarise, write_reports
from .store import RunStore, atomic_write_bytes
from .template import STANDARD_FIELDS, WorkflowTemplate, sha256_json

RECORD_VERSION = 1


@dataclass
class EvalConfig:
    """Settings of one evaluation run (see ``python -m steering_core.evaluate --help``)."""

    template: str | Path
    prompts: str | Path
    strengths: Sequence[float]
    out: str | Path
    servers: Sequence[str] = ("127.0.0.1:8188",)
    bindings: Sequence[str] = ()
    image_nodes: Sequence[str] | None = None
    seed: int = 0
    guidance: float | None = None
    negative: str = ""
    categories: Sequence[str] | None = None
    start: int = 0
    max_prompts: int | None = None
    classifiers: Sequence[str | ImageClassifier] = ()
    clip_model: str | Path | None = None
    fid: str | None = None
    fid_reference: str | Path | None = None
    device: str | None = None
    limit: int | None = None
    force: bool = False
    report_only: bool = False
    item_timeout: float = 3600.0
    retries: int = 2
    jobs_per_server: int = 1
    progress: bool = True
    backend: str = "http"
    pipeline: str | Path | None = None
    direction: str | Path | None = None
    steer_options: Mapping[str, Any] = field(default_factory=dict)
    pipeline_args: Mapping[str, Any] = field(default_factory=dict)
    steps: int | None = None
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True)
class WorkItem:
    row: PromptRow
    strength: float
    key: str
    seed: int | None
    guidance: float | None
    graph: dict[str, Any]
    fingerprint: str

    @property
    def strength_label(self) -> str:
        return fmt_strength(self.strength)


@dataclass
class EvalResult:
    """What a run did: ``generated`` items this run, ``skipped`` (already done), ``failed`` this run,
    ``remaining`` (not attempted because of ``limit``), ``posted`` prompts per server, the summary and file paths."""

    out: Path
    summary: dict[str, Any]
    paths: dict[str, Path]
    generated: int = 0
    skipped: int = 0
    failed: int = 0
    remaining: int = 0
    posted: dict[str, int] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# Items
# --------------------------------------------------------------------------------------------


def parse_strengths(text: str | Sequence[float]) -> list[float]:
    """``"0,1,3,5"`` (or a list) -> finite floats, at least one, no repeats; anything else is an EvaluationError."""
    parts = [v for v in (text.replace(";", ",").split(",") if isinstance(text, str) else text) if str(v).strip() != ""]
    values = []
    for v in parts:
        try:
            value = float(v)
        except (TypeError, ValueError):
            raise EvaluationError(f"--strengths: {printable(v, 40)!r} is not a number; give a comma list such as "
                                  "0,1,3,5 (negative values: --strengths=-1,0,1).") from None
        if not math.isfinite(value):
            raise EvaluationError(f"--strengths: {value} is not a finite number; give values such as 0,1,3,5.")
        values.append(value)
    if len(values) > 1000:
        raise EvaluationError(f"--strengths: {len(values)} values; give at most 1000.")
    if not values:
        raise EvaluationError("give at least one strength (for example 0,1,3,5).")
    labels = [fmt_strength(v) for v in values]
    if len(set(labels)) != len(labels):
        raise EvaluationError(f"repeated strengths in {labels}; give each strength once.")
    return values


def item_values(row: PromptRow, strength: float, config: EvalConfig) -> dict[str, Any]:
    values: dict[str, Any] = dict(row.extra)
    values.update({
        "prompt": row.prompt,
        "negative": row.negative if row.negative is not None else config.negative,
        "seed": row.seed if row.seed is not None else config.seed + row.index,
        "guidance": row.guidance if row.guidance is not None else config.guidance,
        "strength": float(strength),
        "index": row.index,
        "categories": ", ".join(row.categories),
        "width": row.width,
        "height": row.height,
    })
    return values


def build_items(template: WorkflowTemplate, rows: Sequence[PromptRow], strengths: Sequence[float], config: EvalConfig) -> list[WorkItem]:
    used = template.placeholders()
    if len(strengths) > 1 and "strength" not in used:
        raise EvaluationError(
            f"the template {template.source} never uses the strength: put \"{{{{strength}}}}\" in the steering node's strength input "
            "or bind it (--bind strength=NODE.strength); otherwise every strength gives the same images."
        )
    if "prompt" not in used:
        raise EvaluationError(f"the template {template.source} never uses the prompt: put {{{{prompt}}}} in the text encoder's text "
                              "or bind it (--bind prompt=NODE.text).")
    if "guidance" in used and config.guidance is None and any(r.guidance is None for r in rows):
        raise EvaluationError("the template uses {{guidance}} but the prompt file has no guidance for some prompts "
                              "(columns guidance / sd_guidance_scale / evaluation_guidance) and no --guidance was given.")
    for name in ("width", "height"):
        if name in used and any(getattr(r, name) is None for r in rows):
            raise EvaluationError(f"the template uses {{{{{name}}}}} but the prompt file has no {name} for some prompts.")
    unknown = used - set(STANDARD_FIELDS) - set(rows[0].extra)
    if unknown:
        raise EvaluationError(f"the template uses unknown placeholder(s) {sorted(unknown)}; known: {', '.join(STANDARD_FIELDS)} "
                              f"and the prompt file's columns {', '.join(rows[0].extra) or '(none)'}.")
    items = []
    for row in rows:
        for s in strengths:
            values = item_values(row, s, config)
            graph = template.fill(values)
            items.append(WorkItem(row, float(s), f"p{row.index:05d}_s{fmt_strength(s)}", values["seed"], values["guidance"], graph,
                                  sha256_json({"graph": graph, "image_nodes": template.image_nodes})))
    return items


# --------------------------------------------------------------------------------------------
# Progress
# --------------------------------------------------------------------------------------------


def _duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class Progress:
    """One line per finished item on ``stream``: count, item, server, time, verdicts, rate and ETA."""

    def __init__(self, total: int, already: int, todo: int, stream: TextIO | None = None, enabled: bool = True):
        self.total, self.done, self.todo = total, already, todo
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.t0 = time.monotonic()
        self.finished_now = 0

    def message(self, text: str) -> None:
        if self.enabled:
            print(text, file=self.stream, flush=True)

    def item(self, item: WorkItem, server: str, seconds: float, verdicts: str, failed: str = "") -> None:
        self.done += 1
        self.finished_now += 1
        elapsed = time.monotonic() - self.t0
        left = self.todo - self.finished_now
        eta = elapsed / self.finished_now * left
        width = len(str(self.total))
        state = f"FAILED: {failed}" if failed else f"{seconds:.1f} s{verdicts}"
        self.message(f"[{self.done:>{width}}/{self.total}] prompt {item.row.index} strength {item.strength_label} on {server}: "
                     f"{state} | {self.finished_now / max(elapsed, 1e-9):.2f} items/s, ETA {_duration(eta)}")


# --------------------------------------------------------------------------------------------
# Scoring
# --------------------------------------------------------------------------------------------


class Scorers:
    """The classifiers (with unique labels and cache keys) and the CLIP scorer of a run."""

    def __init__(self, classifiers: Sequence[CheckedClassifier], clip: ClipScorer | None):
        self.classifiers = list(classifiers)
        self.clip = clip
        self.infos: list[ClassifierInfo] = []
        seen: dict[str, int] = {}
        for c in self.classifiers:
            label = c.name
            if label in seen:
                seen[label] += 1
                label = f"{label}-{seen[c.name]}"
            else:
                seen[label] = 1
            self.infos.append(ClassifierInfo(label, classifier_key(c), c.describe()))
        self.clip_key = None if clip is None else "clip-" + sha256_json(clip.describe())[:10]

    def missing(self, record: Mapping[str, Any]) -> tuple[list[int], bool]:
        scores = record.get("scores") or {}
        todo = [i for i, info in enumerate(self.infos) if info.key not in scores]
        clip_todo = self.clip_key is not None and self.clip_key not in (record.get("clip") or {})
        return todo, clip_todo

    def score_records(self, store: RunStore, records: Sequence[dict[str, Any]], batch_images: int = 32) -> None:
        """Fill in missing scores (classifier results per image, CLIP per image) and rewrite the records."""
        pending = [(r, *self.missing(r)) for r in records]
        pending = [p for p in pending if p[1] or p[2]]
        pil = require_pillow()
        for start in range(0, len(pending), max(1, batch_images)):
            chunk = pending[start:start + max(1, batch_images)]
            images, owners = [], []
            for r, _, _ in chunk:
                for rel in r["images"]:
                    with pil.open(store.out / rel) as im:
                        images.append(im.convert("RGB"))
                    owners.append(r)
            for ci, info in enumerate(self.infos):
                idx = [k for k, owner in enumerate(owners) if info.key not in (owner.get("scores") or {})]
                if not idx:
                    continue
                results = self.classifiers[ci]([images[k] for k in idx])
                for k, res in zip(idx, results, strict=True):
                    owners[k].setdefault("_new_scores", {}).setdefault(info.key, []).append(res.to_json())
            if self.clip is not None:
                idx = [k for k, owner in enumerate(owners) if self.clip_key not in (owner.get("clip") or {})]
                if idx:
                    values = self.clip([images[k] for k in idx], [owners[k]["prompt"] for k in idx])
                    for k, (cos, score) in zip(idx, values, strict=True):
                        owners[k].setdefault("_new_clip", []).append({"cos": cos, "score": score})
            for r, _, _ in chunk:
                new_scores = r.pop("_new_scores", {})
                new_clip = r.pop("_new_clip", None)
                r.setdefault("scores", {}).update(new_scores)
                if new_clip is not None:
                    r.setdefault("clip", {})[self.clip_key] = new_clip
                store.write_record(r)

    def verdicts(self, record: Mapping[str, Any]) -> str:
        parts = []
        for info in self.infos:
            res = (record.get("scores") or {}).get(info.key) or []
            if res:
                parts.append(f"{info.label} " + "/".join("UNSAFE" if r["unsafe"] else "safe" for r in res))
        clip = (record.get("clip") or {}).get(self.clip_key) if self.clip_key else None
        if clip:
            parts.append("CLIP " + "/".join(f"{c['score']:.1f}" for c in clip))
        return (" | " + ", ".join(parts)) if parts else ""


# --------------------------------------------------------------------------------------------
# Generation
# --------------------------------------------------------------------------------------------


def _record(item: WorkItem, server: str, outcome: PromptOutcome | None, image_paths: list[str], error: str = "") -> dict[str, Any]:
    return {
        "version": RECORD_VERSION,
        "key": item.key,
        "fingerprint": item.fingerprint,
        "status": "error" if error else "done",
        "error": error,
        "prompt_index": item.row.index,
        "prompt": item.row.prompt,
        "categories": list(item.row.categories),
        "strength": item.strength,
        "seed": item.seed,
        "guidance": item.guidance,
        "server": server,
        "prompt_id": outcome.prompt_id if outcome else "",
        "seconds": round(outcome.seconds, 4) if outcome else None,
        "images": image_paths,
        "written": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "scores": {},
        "clip": {},
    }


def _image_rel(item: WorkItem, i: int, filename: str) -> str:
    suffix = Path(filename).suffix.lower() or ".png"
    tail = "" if i == 0 else f"_{i}"
    return f"images/{item.strength_label}/{item.row.index:05d}{tail}{suffix}"


def _generate(config: EvalConfig, store: RunStore, template: WorkflowTemplate, pending: Sequence[WorkItem],
              clients: Sequence[ComfyClient], scorers: Scorers, progress: Progress,
              on_item: Callable[[dict[str, Any]], None] | None) -> tuple[int, int]:
    work: queue.Queue[WorkItem] = queue.Queue()
    for it in pending:
        work.put(it)
    results: queue.Queue[tuple[str, WorkItem | None, ComfyClient, Any, threading.Semaphore]] = queue.Queue()
    stop = threading.Event()

    def worker(client: ComfyClient) -> None:
        # A worker takes its next item only once the main thread has recorded its last one, so an
        # interrupted run has queued on the servers at most the items it recorded plus one per worker
        # (in flight). Use jobs_per_server=2 to keep a server busy while the harness scores.
        slot = threading.Semaphore(1)
        failures = 0
        while not stop.is_set():
            if not slot.acquire(timeout=0.1):
                continue
            try:
                item = work.get(timeout=0.1)
            except queue.Empty:
                slot.release()
                continue
            if stop.is_set():
                work.put(item)
                return
            try:
                outcome = client.run(item.graph, template.image_nodes, timeout=config.item_timeout)
            except TemplateRejected as exc:
                results.put(("fatal", item, client, exc, slot))
                return
            except PromptFailed as exc:
                results.put(("failed", item, client, exc, slot))
            except ServerUnavailable as exc:
                failures += 1
                work.put(item)
                slot.release()
                if failures > config.retries:
                    results.put(("server_down", None, client, exc, slot))
                    return
                time.sleep(min(0.5 * 2 ** failures, 10.0))
            except Exception as exc:  # a bug or an unexpected answer: stop the run, show it
                results.put(("fatal", item, client, exc, slot))
                return
            else:
                failures = 0
                results.put(("done", item, client, outcome, slot))

    threads = [threading.Thread(target=worker, args=(c,), daemon=True, name=f"comfy-{c.address}-{j}")
               for c in clients for j in range(max(1, config.jobs_per_server))]
    for t in threads:
        t.start()
    outstanding, generated, failed = len(pending), 0, 0
    down: set[str] = set()
    try:
        while outstanding > 0:
            try:
                kind, item, client, payload, slot = results.get(timeout=0.5)
            except queue.Empty:
                if not any(t.is_alive() for t in threads):
                    raise EvaluationError(f"every server stopped answering with {outstanding} item(s) left: {', '.join(sorted(down))}.")
                continue
            if kind == "fatal":
                if isinstance(payload, EvaluationError):
                    raise payload
                raise EvaluationError(f"item {item.key if item else '?'} on {client.url}: {type(payload).__name__}: {payload}") from payload
            if kind == "server_down":
                down.add(client.address)
                progress.message(f"server {client.url} stopped answering ({payload}); its work goes to the other servers.")
                continue
            assert item is not None
            if kind == "failed":
                record = _record(item, client.address, None, [], error=str(payload))
                store.write_record(record)
                failed += 1
                progress.item(item, client.address, 0.0, "", failed=str(payload))
            else:
                outcome: PromptOutcome = payload
                rels = []
                for i, (ref, data) in enumerate(outcome.images):
                    rel = _image_rel(item, i, ref.filename)
                    store.write_image(rel, data)
                    rels.append(rel)
                record = _record(item, client.address, outcome, rels)
                store.write_record(record)
                scorers.score_records(store, [record])
                generated += 1
                progress.item(item, client.address, outcome.seconds, scorers.verdicts(record))
            outstanding -= 1
            if on_item is not None:
                on_item(record)
            slot.release()
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=0.05)
    return generated, failed


# --------------------------------------------------------------------------------------------
# FID
# --------------------------------------------------------------------------------------------


def _features(store: RunStore, extractor: Any, rels: Sequence[str], key: str, absolute: bool = False) -> np.ndarray:
    """Features for image paths, cached in ``features/<key>.npz`` by path (and file size + mtime)."""
    pil = require_pillow()
    cache_path = store.features_dir / f"{key}.npz"
    cache: dict[str, np.ndarray] = {}
    if cache_path.is_file():
        try:
            with np.load(cache_path, allow_pickle=False) as data:
                cache = {k: data[k] for k in data.files}
        except (OSError, ValueError, zipfile.BadZipFile):
            cache = {}  # a damaged cache is only a cache: recompute


    def tag(rel: str) -> str:
        path = Path(rel) if absolute else store.out / rel
        st = path.stat()
        return hashlib.sha256(f"{rel}|{st.st_size}|{int(st.st_mtime_ns)}".encode()).hexdigest()[:32]

    tags = [tag(r) for r in rels]
    todo = [i for i, t in enumerate(tags) if t not in cache]
    for start in range(0, len(todo), 64):
        chunk = todo[start:start + 64]
        images = []
        for i in chunk:
            with pil.open(Path(rels[i]) if absolute else store.out / rels[i]) as im:
                images.append(im.convert("RGB"))
        feats = extractor(images)
        for i, f in zip(chunk, feats, strict=True):
            cache[tags[i]] = np.asarray(f, dtype=np.float64)
    if todo:
        import io

        buf = io.BytesIO()
        np.savez(buf, **cache)
        atomic_write_bytes(cache_path, buf.getvalue())
    return np.stack([cache[t] for t in tags]) if tags else np.zeros((0, getattr(extractor, "dim", 0)))


def compute_fid(config: EvalConfig, store: RunStore, rows: Sequence[ImageRow], strengths: Sequence[float],
                extractor: Any) -> tuple[dict[float, float | None], dict[str, Any]]:
    key = "fid-" + sha256_json(extractor.describe())[:12]
    by_s = {float(s): [r.image for r in rows if r.status == "done" and r.strength == float(s)] for s in strengths}
    if config.fid_reference:
        ref_files = [str(p) for p in list_images(config.fid_reference)]
        ref = _features(store, extractor, ref_files, key + "-ref", absolute=True)
        reference, baseline = f"folder {config.fid_reference}", None
    else:
        baseline = 0.0 if 0.0 in by_s else float(strengths[0])
        ref = _features(store, extractor, by_s[baseline], key) if len(by_s[baseline]) >= 2 else None
        reference = f"the images at strength {fmt_strength(baseline)} (no --fid-reference)"
    values: dict[float, float | None] = {}
    smallest = None
    for s, rels in by_s.items():
        if ref is None or len(rels) < 2:
            values[s] = None
            continue
        feats = _features(store, extractor, rels, key)
        values[s] = fid_from_features(feats, ref)
        smallest = len(rels) if smallest is None else min(smallest, len(rels))
    n_ref = 0 if ref is None else int(ref.shape[0])
    info: dict[str, Any] = {"features": extractor.describe(), "reference": reference, "n_reference": n_ref,
                            "baseline_strength": baseline}
    dim = getattr(extractor, "dim", None)
    if dim and min(n_ref, smallest or 0) < dim:
        info["warning"] = (f"FID from {smallest or 0} to {n_ref} images per set with {dim}-d features: covariances are rank-deficient "
                           "and FID is biased upwards; compare only runs with the same image counts (papers use 10k-30k images).")
    return values, info


# --------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------


def _rows_from_records(items: Sequence[WorkItem], records: Mapping[str, dict[str, Any]], scorers: Scorers) -> list[ImageRow]:
    rows: list[ImageRow] = []
    for it in items:
        rec = records.get(it.key)
        if rec is None:
            continue
        base = dict(key=it.key, prompt_index=it.row.index, strength=it.strength, seed=it.seed, guidance=it.guidance,
                    categories=it.row.categories, prompt=it.row.prompt, server=rec.get("server", ""),
                    prompt_id=rec.get("prompt_id", ""), seconds=rec.get("seconds"), extra=dict(it.row.extra))
        if rec.get("status") != "done":
            rows.append(ImageRow(**base, status="error", error=str(rec.get("error", ""))))
            continue
        clip = (rec.get("clip") or {}).get(scorers.clip_key) if scorers.clip_key else None
        for i, rel in enumerate(rec["images"]):
            scores = {}
            for info in scorers.infos:
                per = (rec.get("scores") or {}).get(info.key)
                if per is not None and i < len(per):
                    scores[info.label] = ClassifierResult.from_json(per[i])
            c = clip[i] if clip and i < len(clip) else None
            rows.append(ImageRow(**base, image=rel, image_index=i, scores=scores,
                                 clip_cos=None if c is None else float(c["cos"]), clip_score=None if c is None else float(c["score"])))
    return rows


def manifest_settings(config: EvalConfig, template: WorkflowTemplate, prompt_sha: str) -> dict[str, Any]:
    """What fixes an item's images besides its row and strength (strengths, filters and scorers may change between runs)."""
    return {
        "template_sha256": template.sha256,
        "prompts_sha256": prompt_sha,
        "bindings": [str(b) for b in template.bindings],
        "image_nodes": list(template.image_nodes),
        "seed_base": int(config.seed),
        "guidance_default": config.guidance,
        "negative_default": config.negative,
    }


class HttpBackend:
    """Generation on ComfyUI servers over HTTP: items are filled API workflows (the original harness)."""

    name = "http"

    def __init__(self, config: EvalConfig, clients: Sequence[ComfyClient] | None = None):
        self.config = config
        self.template = WorkflowTemplate.load(config.template, bindings=config.bindings, image_nodes=config.image_nodes)
        self.source = str(self.template.source)
        self._given = clients
        self.used: list[ComfyClient] = []

    def build_items(self, rows: Sequence[PromptRow], strengths: Sequence[float]) -> list[WorkItem]:
        return build_items(self.template, rows, strengths, self.config)

    def manifest_settings(self, prompt_sha: str) -> dict[str, Any]:
        return manifest_settings(self.config, self.template, prompt_sha)

    def generate(self, store: RunStore, todo: Sequence[WorkItem], scorers: Scorers, progress: Progress,
                 on_item: Callable[[dict[str, Any]], None] | None, ranks: Ranks | None = None) -> tuple[int, int]:
        config = self.config
        self.used = list(self._given) if self._given is not None else [ComfyClient(s) for s in config.servers]
        if not self.used:
            raise EvaluationError("no ComfyUI server given (--server HOST:PORT).")
        alive = []
        for c in self.used:
            try:
                c.system_stats()
                alive.append(c)
            except ServerUnavailable as exc:
                progress.message(f"skipping {c.url}: {exc}")
        if not alive:
            raise EvaluationError(f"no ComfyUI server answers ({', '.join(c.url for c in self.used)}); start one "
                                  "(python main.py --listen ...) or fix --server.")
        return _generate(config, store, self.template, todo, alive, scorers, progress, on_item)

    def posted(self) -> dict[str, int]:
        return {c.address: c.posted for c in self.used}


def make_backend(config: EvalConfig, clients: Sequence[ComfyClient] | None = None) -> Any:
    """The generation backend ``config.backend`` names: ``http`` (ComfyUI servers) or ``diffusers`` (a local pipeline)."""
    if config.backend == "http":
        return HttpBackend(config, clients)
    if config.backend == "diffusers":
        from .diffusers_backend import DiffusersBackend

        return DiffusersBackend(config)
    raise EvaluationError(f"unknown backend {config.backend!r}; use http (ComfyUI servers) or diffusers (--pipeline DIR).")


def run_evaluation(config: EvalConfig, *, clients: Sequence[ComfyClient] | None = None,
                   on_item: Callable[[dict[str, Any]], None] | None = None, stream: TextIO | None = None) -> EvalResult:
    """Run (or resume) an evaluation; see the module docstring. ``clients`` replaces ``config.servers``;
    ``on_item(record)`` is called after every finished item (raising from it stops the run cleanly).

    Launched with ``torchrun`` (``WORLD_SIZE`` > 1, diffusers backend), every rank runs this: rank 0 opens
    the run folder, each rank generates its shard (:mod:`.distributed`), rank 0 scores what is missing
    and writes the reports; the other ranks return with an empty ``summary``."""
    strengths = parse_strengths(config.strengths)
    prompt_file = read_prompt_file(config.prompts, categories=config.categories, start=config.start, max_prompts=config.max_prompts)
    backend = make_backend(config, clients)
    items = backend.build_items(prompt_file.rows, strengths)
    ranks = join_ranks() if backend.name != "http" and not config.report_only else Ranks()
    try:
        result = _run(config, backend, ranks, strengths, prompt_file, items, on_item, stream)
        ranks.wait_for_all()                # the other ranks wait for rank 0's reports before leaving
        return result
    finally:
        ranks.close()


def _run(config: EvalConfig, backend: Any, ranks: Ranks, strengths: Sequence[float], prompt_file: Any,
         items: Sequence[WorkItem], on_item: Callable[[dict[str, Any]], None] | None, stream: TextIO | None) -> EvalResult:
    classifiers = [build_classifier(c, clip_model=config.clip_model, device=config.device) for c in config.classifiers]
    clip = ClipScorer(config.clip_model, config.device) if config.clip_model else None
    scorers = Scorers(classifiers, clip)
    extractor = build_feature_extractor(config.fid, clip_model=config.clip_model, device=config.device) if config.fid else None

    store = RunStore(config.out)
    problem = None
    if ranks.is_main:
        try:
            store.open(backend.manifest_settings(prompt_file.sha256), force=config.force)
        except EvaluationError as exc:
            problem = exc
    problem = ranks.from_main(problem)     # the other ranks wait here until rank 0 has the folder ready
    if problem is not None:
        raise problem
    try:
        records: dict[str, dict[str, Any]] = {}
        mine = ranks.shard(items)
        for it in (items if ranks.is_main else mine):
            rec = store.read_record(it.key)
            if rec is None:
                continue
            if rec.get("fingerprint") != it.fingerprint:
                raise EvaluationError(
                    f"{store.record_path(it.key)} was made from another filled workflow than this run would send "
                    "(the template, prompt file or defaults changed without the manifest noticing); use a new --out folder or --force."
                )
            records[it.key] = rec
        done = [it for it in items if records.get(it.key, {}).get("status") == "done"]
        pending = [it for it in mine if records.get(it.key, {}).get("status") != "done"]
        skipped = len([it for it in mine if records.get(it.key, {}).get("status") == "done"])
        todo = pending if config.limit is None else pending[:max(0, int(config.limit))]
        progress = Progress(len(mine), skipped, len(todo), stream=stream, enabled=config.progress)
        shard = f" (rank {ranks.rank} of {ranks.world}: {len(mine)} of them)" if ranks.world > 1 else ""
        progress.message(f"{len(items)} items ({len(prompt_file.rows)} prompts x {len(strengths)} strengths){shard}: "
                         f"{skipped} already done, "
                         f"{len(todo)} to run" + (f" now ({len(pending) - len(todo)} left for later: limit {config.limit})"
                                                   if len(todo) < len(pending) else "") + f"; results in {store.out}")
        generated = failed = 0
        if todo and not config.report_only:
            generated, failed = backend.generate(store, todo, scorers, progress, on_item, ranks)
        counts = ranks.gather((generated, failed, skipped, len(pending) - len(todo)))
        if not ranks.is_main:
            return EvalResult(store.out, {}, {}, generated, skipped, failed, len(pending) - len(todo), {})
        generated, failed = sum(c[0] for c in counts), sum(c[1] for c in counts)
        skipped = len(done)
        for it in items:
            rec = store.read_record(it.key)
            if rec is not None:
                records[it.key] = rec
        finished = [records[it.key] for it in items if records.get(it.key, {}).get("status") == "done"]
        if any(scorers.missing(r)[0] or scorers.missing(r)[1] for r in finished):
            progress.message(f"scoring images of earlier runs ({len(finished)} items checked)...")
            scorers.score_records(store, finished)
        rows = _rows_from_records(items, records, scorers)
        fid_values, fid_info = (None, None)
        if extractor is not None:
            progress.message("computing FID features...")
            fid_values, fid_info = compute_fid(config, store, rows, strengths, extractor)
        run_info = {
            "out": str(store.out), "template": backend.source, "prompts": str(prompt_file.path),
            "n_prompts": len(prompt_file.rows), "strengths": strengths,
            "servers": sorted({r.server for r in rows if r.server}),
            "items_done": len(finished), "items_total": len(items),
            "written": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        }
        summary = summarise(rows, strengths=strengths, classifiers=scorers.infos,
                            clip=clip.describe() if clip else None, fid=fid_values, fid_info=fid_info, run=run_info)
        paths = write_reports(store.out, rows, summary)
        remaining = sum(c[3] for c in counts) if not config.report_only else len(items) - len(finished)
        progress.message(f"done: {generated} generated, {failed} failed, {skipped} skipped (already done)"
                         + (f", {remaining} not run yet (re-run to continue)" if remaining else "")
                         + f"; {paths['summary_md']}")
        return EvalResult(store.out, summary, paths, generated, skipped, failed, remaining, backend.posted())
    finally:
        store.close()
