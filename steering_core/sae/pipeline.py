"""The whole Safety SAE pipeline over any host: route -> harvest -> train -> select features -> adapt -> save.

:func:`train_safety_sae` runs it on an :class:`~steering_core.sae.activation_source.ActivationSource`
(ComfyUI's sampler for the *Train Safety SAE* node, a diffusers pipeline for
``steering_core.diffusers.train_safety_sae``), so both hosts write the same file from the same settings:

1. sites: a list (``"double:1, single:1"``) or ``"auto:N"``, the N most robust sites of
   :func:`~steering_core.sae.activation_source.route_sites` (every block, leave-one-category-out, or the
   source categories against the rest);
2. harvest: both prompts of every pair (plus benign anchors for ``adapt_to="benign anchors"``) run for
   ``steps`` steps; per prompt, site and step at most ``tokens_per_step`` token rows (a seeded random
   subset) go to bfloat16 activation shards, split into the *source* domain (the source categories) and
   the *target* domain (the other categories, or the anchors);
3. per site a TopK SAE (:func:`~steering_core.sae.train.train_sae`) on the source shards;
4. harmful / safe features (:func:`~steering_core.sae.features.select_safety_features`) from each
   prompt's rows (at most :data:`MAX_ROWS_PER_PROMPT`);
5. optionally decoder-only adaptation (:func:`~steering_core.sae.adapt.adapt_decoder`) to the target rows;
6. one :class:`~steering_core.sae.safety_sae.SafetySAE` file, never overwriting (``<name>_00001``...).

**Resumable, never twice.** Everything that decides the result is a :class:`TrainSettings` (including
the source's fingerprint); its digest names the work folder ``<directory>/.work/<name>-<digest>``
(harvested shards, ``harvest.done``, training checkpoints), so a cancelled run resumes there bit-exactly,
and a file saved earlier with the same digest is found and returned instead of training again.
The work folder is deleted once the file is saved.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import torch

from .activation_shards import ShardDataset, ShardWriter
from .activation_source import (
    SAE_STREAM_KEY,
    ActivationSource,
    LabeledPrompt,
    check_stream,
    labeled_prompts,
    route_sites,
    source_sites,
)
from ..errors import SafeSteerError
from ..files.numbered import free_path, numbered_files
from ..directions.prompts import PromptPair, anchor_prompts
from .adapt import adapt_decoder
from .features import select_safety_features
from .train import SAETrainConfig, train_sae
from .safety_sae import SafetySAE, SiteSAE
from ..steering.sites import Site

ADAPT_CHOICES: tuple[str, ...] = ("none", "held-out categories", "held-out categories (benign only)", "benign anchors")
MAX_ROWS_PER_PROMPT = 256  # rows per prompt used to choose features (bounded memory)
WORK_DIR = ".work"

#: ``progress(done, total)`` in work units (one per prompt harvested, one per training / adaptation step);
#: a host cancels the run by raising from it (finished work stays in the work folder).
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class TrainSettings:
    """Everything that decides the result (hashed into the work folder's name, so resuming is safe).

    ``sites`` the resolved site list ("double:1, single:1"), ``stream`` the SAE file's stream key
    ("img" / "txt" / "all"), ``steps`` sampling steps per prompt, ``source`` / ``target`` the
    categories, ``prompts`` every harvested prompt in order, ``model`` the source's fingerprint.
    """

    sites: str
    stream: str
    expansion: int
    k: int
    train_steps: int
    tokens_per_step: int
    n_harmful: int
    steps: int
    seed: int
    source: tuple[str, ...]
    target: tuple[str, ...]
    adapt_to: str
    prompts: tuple[str, ...]
    model: str

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class TrainedSafetySAE:
    """The result: the Safety SAE as loaded back from ``path``, a human summary, whether an existing file
    trained with the same settings was reused, and the routing note ("" when sites were given)."""

    sae: SafetySAE
    path: str
    summary: str
    reused: bool
    routing: str = ""


class _Progress:
    """Counts work units across the phases and reports ``(done, total)``."""

    def __init__(self, total: int, report: Progress | None):
        self.total, self.done, self.report = max(1, total), 0, report

    def advance(self, n: int = 1) -> None:
        self.done += n
        self.at(0)(0)

    def at(self, offset: int) -> Callable[[int], None]:
        """A callback reporting ``offset + value`` (a phase's own step counter)."""
        def report(value: int) -> None:
            if self.report is not None:
                self.report(min(max(offset + value, self.done), self.total), self.total)
        return report


def _site_dir(site: Site) -> str:
    return str(site).replace(":", "_")


def _harvest(source: ActivationSource, prompts: list[LabeledPrompt], domain: list[str], sites: tuple[Site, ...],
             stream: str, settings: TrainSettings, work: Path, progress: _Progress) -> None:
    """Write token rows per site into ``work/harvest/<site>/<domain>`` shards (skipped when already complete)."""
    done = work / "harvest.done"
    if done.exists():
        progress.advance(len(prompts))
        return
    shutil.rmtree(work / "harvest", ignore_errors=True)
    cats = sorted({p.category for p in prompts})
    writers: dict[tuple[Site, str], ShardWriter] = {}
    for site in sites:
        for dom in sorted(set(domain)):
            writers[(site, dom)] = ShardWriter(work / "harvest" / _site_dir(site) / dom, str(site), source.hidden_size,
                                               dtype=torch.bfloat16)
    site_pos = {s: j for j, s in enumerate(sites)}

    def sink(i: int, site: Site, tokens: torch.Tensor, step: int) -> None:
        p = prompts[i]
        gen = torch.Generator().manual_seed(settings.seed * 1_000_003 + i * 1009 + step * 31 + site_pos[site])
        n = min(settings.tokens_per_step, tokens.shape[0])
        rows = tokens[torch.randperm(tokens.shape[0], generator=gen)[:n]]
        labels = {"prompt": torch.full((n,), i, dtype=torch.long), "unsafe": torch.full((n,), int(p.unsafe)),
                  "category": torch.full((n,), cats.index(p.category)), "step": torch.full((n,), step)}
        writers[(site, domain[i])].add(rows, labels)

    source.run([p.text for p in prompts], settings.steps, settings.seed, sites, stream, sink, progress.advance)
    for w in writers.values():
        w.close()
    done.write_text("complete\n")


def rows_by_prompt(dataset: ShardDataset, prompts: Sequence[LabeledPrompt]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """(safe, unsafe) lists of ``[T_i, D]`` token rows per prompt (at most MAX_ROWS_PER_PROMPT each)."""
    grouped: dict[int, list[torch.Tensor]] = {}
    for acts, labels in dataset.iter_all(columns=["prompt"]):
        for pid in labels["prompt"].unique().tolist():
            have = sum(t.shape[0] for t in grouped.get(pid, []))
            if have < MAX_ROWS_PER_PROMPT:
                grouped.setdefault(pid, []).append(acts[labels["prompt"] == pid][:MAX_ROWS_PER_PROMPT - have])
    safe = [torch.cat(v) for pid, v in sorted(grouped.items()) if not prompts[pid].unsafe]
    unsafe = [torch.cat(v) for pid, v in sorted(grouped.items()) if prompts[pid].unsafe]
    return safe, unsafe


def adaptation_rows(dataset: ShardDataset, benign_only: bool) -> torch.Tensor:
    """Target-domain rows for decoder adaptation (only benign prompts' rows with ``benign_only``)."""
    parts = []
    for acts, labels in dataset.iter_all(columns=["unsafe"]):
        parts.append(acts[labels["unsafe"] == 0] if benign_only else acts)
    rows = torch.cat(parts) if parts else torch.zeros(0)
    if rows.shape[0] < 16:
        raise SafeSteerError(f"only {rows.shape[0]} target-domain activation rows to adapt the decoder on; raise "
                             "pairs_per_category or tokens_per_step.")
    return rows


def find_trained(directory: str | os.PathLike[str], stem: str, digest: str, hidden_size: int) -> tuple[SafetySAE, str] | None:
    """A Safety SAE saved earlier as ``stem`` (or ``stem_NNNNN``) with exactly these settings, if any."""
    for path in numbered_files(directory, stem):
        try:
            bundle = SafetySAE.load(path, expected_d_in=hidden_size)
        except SafeSteerError:
            continue
        if bundle.model.get("settings_digest") == digest:
            return bundle, path
    return None


def check_stem(filename: str) -> str:
    """A file name inside the output folder, without ``.safetensors`` (sub-folders allowed, nothing outside)."""
    stem = (filename or "").strip().removesuffix(".safetensors")
    parts = stem.replace("\\", "/").split("/")
    if not stem or os.path.isabs(stem) or any(not p or p in (".", "..") or p.startswith(".") for p in parts):
        raise SafeSteerError(f"filename {filename!r} is not usable: give a name inside the output folder (sub-folders "
                             "allowed; no '..', no absolute path, no part starting with '.').")
    return "/".join(parts)


def _jsonable(report: Any) -> dict[str, object]:
    data = asdict(report) if hasattr(report, "__dataclass_fields__") else dict(report)
    return {k: v for k, v in data.items() if isinstance(v, (int, float, str, bool, list, type(None)))}


def _resolve_sites(source: ActivationSource, pairs: Mapping[str, Sequence[PromptPair]], sites: str, stream: str,
                   steps: int, seed: int, source_cats: list[str], target: list[str],
                   progress: Progress | None) -> tuple[tuple[Site, ...], str]:
    spec = (sites or "").strip().lower()
    if not spec.startswith("auto"):
        return source_sites(source, sites), ""
    m = re.fullmatch(r"auto(?::(\d+))?", spec)
    if not m:
        raise SafeSteerError(f"sites {sites!r}: write 'auto', 'auto:4' or a list such as 'double:3, single:7'.")
    n_auto = int(m.group(1) or 4)
    n_prompts = 2 * sum(len(v) for v in pairs.values())
    done = [0]

    def advance(n: int) -> None:
        done[0] += n
        if progress is not None:
            progress(done[0], n_prompts)

    ranking, by_key = route_sites(source, pairs, steps, seed, "all", stream, source_cats if target else None, 0.5,
                                  advance)
    chosen = tuple(by_key[s.site] for s in ranking[:n_auto])
    return chosen, f"sites chosen by robustness-aware routing: {', '.join(str(s) for s in chosen)}"


def train_safety_sae(source: ActivationSource, pairs: Mapping[str, Sequence[PromptPair]],
                     directory: str | os.PathLike[str], filename: str = "safety_sae", *, sites: str = "auto:4",
                     stream: str = "img", expansion: int = 16, k: int = 32, train_steps: int = 2000,
                     tokens_per_step: int = 64, n_harmful: int = 16, steps: int = 4, seed: int = 0,
                     source_categories: Sequence[str] | None = None, adapt_to: str = "none",
                     anchors: Sequence[str] | None = None, resume: bool = True, progress: Progress | None = None,
                     file_info: Mapping[str, object] | None = None) -> TrainedSafetySAE:
    """Run the whole pipeline (module docstring) on ``source`` and save ``<directory>/<filename>.safetensors``.

    Args:
        source: the host's model (:class:`~steering_core.sae.activation_source.ActivationSource`).
        pairs: safe / unsafe prompt pairs per category (both prompts of each pair are harvested).
        directory: the output folder; ``filename`` may hold sub-folders. An existing name is never
            overwritten (a numbered file is written); the work folder is ``<directory>/.work/``.
        sites: a site list or ``"auto:N"``. stream: "img", "txt" or "both".
        expansion, k, train_steps: the TopK SAE (dictionary ``expansion x H``, ``k`` active latents).
        tokens_per_step: token rows kept per prompt, site and step. n_harmful: harmful latents per site.
        steps, seed: sampling steps per prompt and the shared noise seed.
        source_categories: the categories the SAE and its features are learned on (None = all); the
            others are the target domain of ``adapt_to`` "held-out categories" (with or without "(benign only)").
        adapt_to: one of :data:`ADAPT_CHOICES`. anchors: benign prompts for "benign anchors"
            (default: the first ``max(8, 2 x pairs in the largest category)`` shipped anchors).
        resume: reuse the work folder of an interrupted run with these settings (else start over).
        progress: ``progress(done, total)``; raise from it to cancel.
        file_info: extra string/number fields for the file's model record (e.g. the prompt set's name).
    """
    check_stream(stream)
    if adapt_to not in ADAPT_CHOICES:
        raise SafeSteerError(f"unknown adapt_to {adapt_to!r}; choose one of {', '.join(ADAPT_CHOICES)}.")
    if not pairs or not all(len(v) for v in pairs.values()):
        raise SafeSteerError("no prompt pairs to train on; give at least one category with pairs.")
    stem = check_stem(filename)
    listed = list(source_categories) if source_categories else []
    unknown = [c for c in listed if c not in pairs]
    if unknown:
        raise SafeSteerError(f"source_categories: {unknown} are not in the prompt set, which has {', '.join(pairs)}.")
    source_cats = listed or list(pairs)
    target = [c for c in pairs if c not in source_cats]
    if adapt_to.startswith("held-out") and not target:
        raise SafeSteerError("adapt_to uses the held-out categories, but every category of the prompt set is a "
                             "source category; list the source categories in source_categories (the rest become "
                             "the target domain), or set adapt_to to 'none' or 'benign anchors'.")
    chosen, routing_note = _resolve_sites(source, pairs, sites, stream, steps, seed, source_cats, target, progress)
    prompts = labeled_prompts(pairs)
    domain = ["source" if p.category in source_cats else "target" for p in prompts]
    if adapt_to == "benign anchors":
        extra = list(anchors) if anchors is not None else anchor_prompts()[: max(8, 2 * max(len(v) for v in pairs.values()))]
        prompts += [LabeledPrompt(a, False, "anchor") for a in extra]
        domain += ["target"] * len(extra)
    settings = TrainSettings(", ".join(str(s) for s in chosen), SAE_STREAM_KEY[stream], expansion, k, train_steps,
                             tokens_per_step, n_harmful, steps, seed, tuple(source_cats), tuple(target), adapt_to,
                             tuple(p.text for p in prompts), source.fingerprint())
    base = str(directory)
    stem_dir = os.path.dirname(os.path.join(base, stem))
    existing = find_trained(stem_dir, os.path.basename(stem), settings.digest(), source.hidden_size)
    if existing is not None:
        bundle, path = existing
        return TrainedSafetySAE(bundle, path, bundle.describe() + f"\nreused {os.path.relpath(path, base)} (trained "
                                "earlier with these exact settings on this model; change a setting or the filename to "
                                "train again)", True, routing_note)
    work = Path(base) / WORK_DIR / f"{stem.replace('/', '_')}-{settings.digest()}"
    if work.exists() and not resume:
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    adapt_steps = max(1, train_steps // 4) if adapt_to != "none" else 0
    bar = _Progress(len(prompts) + len(chosen) * (train_steps + adapt_steps), progress)
    _harvest(source, prompts, domain, chosen, stream, settings, work, bar)

    entries = []
    # hosts may run under inference_mode (ComfyUI does); training needs autograd and tensors made outside it
    with torch.inference_mode(False), torch.enable_grad():
        for j, site in enumerate(chosen):
            folder = work / "harvest" / _site_dir(site)
            data = ShardDataset(folder / "source")
            offset = len(prompts) + j * (train_steps + adapt_steps)
            if len(data) < 2 * k:
                raise SafeSteerError(f"only {len(data)} activation rows at {site}; raise pairs_per_category or tokens_per_step.")
            config = SAETrainConfig(expansion=expansion, k=k, steps=train_steps, seed=seed, batch_size=min(4096, len(data)),
                                    dead_after_tokens=max(10 * len(data), 100_000))
            sae, report = train_sae(data, config, progress=lambda s, *_a, o=offset: bar.at(o)(s),
                                    checkpoint_path=work / f"train-{_site_dir(site)}.safetensors", resume=resume)
            safe_rows, unsafe_rows = rows_by_prompt(data, prompts)
            features = select_safety_features(sae, safe_rows, unsafe_rows, n_harmful=n_harmful)
            features.stats["source_categories"] = list(source_cats)
            notes: dict[str, object] = {"train": _jsonable(report), "tokens_per_step": tokens_per_step,
                                        "sampling_steps": steps}
            if adapt_steps:
                rows = adaptation_rows(ShardDataset(folder / "target"), benign_only=adapt_to != "held-out categories")
                sae, adapt_report = adapt_decoder(sae, rows, steps=adapt_steps, seed=seed,
                                                  progress=lambda s, *_a, o=offset + train_steps: bar.at(o)(s))
                notes["adapted"] = {"to": adapt_to, "target_categories": list(target), **_jsonable(adapt_report)}
            entries.append(SiteSAE(str(site), SAE_STREAM_KEY[stream], sae, features, notes))
    model = {**source.describe(), "hidden_size": source.hidden_size, "num_double": source.num_double,
             "num_single": source.num_single, **dict(file_info or {}), "settings_digest": settings.digest()}
    bundle = SafetySAE(entries, model)
    os.makedirs(stem_dir, exist_ok=True)
    path = free_path(stem_dir, os.path.basename(stem))
    bundle.save(path, overwrite=False)
    shutil.rmtree(work, ignore_errors=True)
    loaded = SafetySAE.load(path, expected_d_in=source.hidden_size)
    summary = loaded.describe() + f"\nsaved {os.path.relpath(path, base)}"
    if routing_note:
        summary += "\n" + routing_note
    return TrainedSafetySAE(loaded, path, summary, False, routing_note)
