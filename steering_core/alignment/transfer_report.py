"""Transfer report: does a safety direction carried from one encoder into another still separate prompts?

Given one or more source encoders, a target encoder, safe/unsafe prompt pairs per category and benign
anchor prompts, :func:`transfer_report` measures, per category and for ``global`` (all categories
pooled), how a direction estimated in the source and transported into the target compares with the
target's own (native) direction, on prompts none of the directions was estimated from. The shape
follows the universal-direction note's table (AUROC native / universal per model), with the
transferred direction and the cosine added. Not to be confused with :mod:`.transport_report`, the
per-transport diagnostics (coverage, scales) every ``Alignment.transport`` attaches.

Definitions (``src(x)``, ``tgt(x)``: pooled vectors of prompt ``x``, see ``encoders.encode_pooled``):

* **Split.** Each category's pairs are split by :func:`prompts.split_pairs` (``holdout =
  test_fraction``, ``seed``) into training pairs ``R_c`` and held-out pairs ``H_c``; ``global`` uses
  the union over categories. A held-out pair sharing a prompt with any training pair is dropped (a
  note says how many), so held-out prompts never occur in training.
* **Source direction** ``s_c = mean_{R_c} src(safe) - mean_{R_c} src(unsafe)`` (diff of means,
  unsafe -> safe), in each source's own space.
* **Native direction** ``n_c``: the same on ``tgt`` (a reference only: it needs unsafe prompts in the
  target, which transfer avoids).
* **Transferred direction** ``t_c = A.transport(s_c)`` where ``A = fit_alignment(src(anchors),
  tgt(anchors), map_kind, lam, seed)`` is fitted on the benign anchors ONLY; for linear maps
  ``t_c = unit(s_c W)``, for the MLP the mean finite difference over anchors.
* **Universal direction** ``u_c = universal_direction([n_c, t_c^1, ..., t_c^m])``: the top right
  singular vector of the stacked unit vectors of the native direction and every source's transferred
  one (all in the target space), sign set by the majority (ties: sum of cosines). With one source,
  ``u_c = unit(n_c + sign(n_c . t_c) t_c)``.
* **Cosine** ``cos(t_c, n_c)``.
* **AUROC** of a direction ``d`` on category ``c``: safe prompts of ``H_c`` are the positives,
  unsafe ones the negatives, score ``<tgt(x), d_c / |d_c|>`` (higher = safer), exact with ties
  counting one half (:func:`metrics.auroc`); 0.5 is chance. The source's own AUROC uses ``s_c`` on
  ``src`` of the same held-out pairs.
* **Validation ratio** ``val_ratio`` (per source and category; ``validation=False`` skips it): the training
  pairs ``R_c`` alone are split again by :func:`split_categories` (same ``test_fraction`` and ``seed``) into an
  inner training part ``R'_c`` and a validation part ``V_c``; ``s'_c`` is the diff of means on ``src`` over
  ``R'_c``, carried by the *same* fitted map ``A`` (no refit), and ``val_ratio = AUROC_V(tgt, A.transport(s'_c))
  / AUROC_V(src, s'_c)``. The held-out pairs ``H_c`` are never used, so it is a diagnostic a user has without
  test data. On the real encoder pairs it tracks transferred / source AUROC (Spearman +0.64 over 240 points,
  docs/transfer_table.md); a mean over categories below :data:`LOW_VAL_RATIO` raises a
  :class:`PoorTransferWarning` and puts a warning at the top of :meth:`TransferReport.summary`. It is ``None``
  where the source direction does not separate the validation pairs (AUROC <= 0.5: the ratio would mean nothing).

Everything is deterministic for fixed inputs (seeded split and map fit; no sampling elsewhere).

Command line (writes ``report.md``, ``report.png``, ``report.json``): ``python -m
steering_core.transfer_cli --source minilm:6 --target minilm:3 --out out/transfer``.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch

from .maps import MAP_KINDS, Alignment, LowCoverageWarning, PoorTransferWarning, fit_alignment
from ..directions.direction import GLOBAL, SafetyDirection, cosine, estimate_category_directions
from ..encoders.base import TextEncoder, encode_pooled, encoder_pooling
from ..errors import PromptDataError, SafeSteerError
from ..directions.metrics import auroc
from ..directions.pooling import TOKEN_POOLINGS
from ..directions.prompts import PromptPair, split_pairs
from ..directions.universal import universal_direction

NATIVE, UNIVERSAL = "native", "universal"

#: Mean validation ratio (over categories, ``global`` excluded) below which a source's transfer is reported as
#: poor. Chosen from the real-pair table (docs/transfer_table.md, means over six categories, 5 split seeds):
#: every ridge / Procrustes map reads 0.92-0.97 (sd over seeds <= 0.02), every shuffled-anchor control, whose map
#: carries nothing, 0.53-0.57 (sd <= 0.06). 0.75 lies midway, more than 3 sd from both groups; with a source
#: AUROC near 0.95 it means the transferred direction keeps less than half of the source's margin over chance.
#: Per-category values rest on small validation splits (about 35 pairs), so the rule judges the mean. The ratio is
#: relative to the source: where the source direction itself barely separates, a chance-level transfer still reads
#: close to 1, so read it beside the source AUROC.
LOW_VAL_RATIO = 0.75


@dataclass(frozen=True)
class SourceResult:
    """One source encoder's numbers for one category.

    source_auroc: held-out AUROC of the source direction in the source's own space (reference).
    transferred_auroc: held-out AUROC of the transported direction on target activations.
    cosine: cosine between the transported and the native target direction.
    coverage: share of the source direction inside the anchors' principal subspace (see Alignment.coverage).
    agreement: cross-fitted score agreement of the map along the source direction on benign anchors
        (:mod:`.agreement`); the benign-only predictor of transferred / source AUROC.
    val_ratio: transferred / source AUROC on a validation split of the *training* pairs (module docstring);
        ``None`` when not measured or when the source direction does not separate the validation pairs.
    """

    source: str
    source_auroc: float
    transferred_auroc: float
    cosine: float
    coverage: float
    agreement: float | None = None
    val_ratio: float | None = None


@dataclass(frozen=True)
class TransferRow:
    """One category: pair counts, the native and universal AUROC, and one :class:`SourceResult` per source.

    ``n_validation``: pairs of the inner validation split behind ``val_ratio`` (part of ``n_train``; 0 = not measured).
    """

    category: str
    n_train: int
    n_held_out: int
    native_auroc: float
    universal_auroc: float
    sources: tuple[SourceResult, ...]
    n_validation: int = 0

    @property
    def transferred_auroc(self) -> float:
        """The first source's transferred AUROC."""
        return self.sources[0].transferred_auroc

    @property
    def source_auroc(self) -> float:
        return self.sources[0].source_auroc

    @property
    def cosine(self) -> float:
        return self.sources[0].cosine

    def as_dict(self) -> dict[str, Any]:
        return {"category": self.category, "n_train": self.n_train, "n_held_out": self.n_held_out,
                "n_validation": self.n_validation, "native_auroc": self.native_auroc, "universal_auroc": self.universal_auroc,
                "sources": [vars(s).copy() for s in self.sources]}


@dataclass(frozen=True)
class TransferReport:
    """The result of :func:`transfer_report`.

    Attributes:
        sources: the source labels (one per source encoder); target: the target label.
        settings: map kind, lambda, pooling, split, seed, anchor and pair counts.
        maps: per source, the alignment's diagnostics (held-out R^2 on anchors, beta, training anchors).
        rows: one :class:`TransferRow` per category, ``global`` first when there are several categories.
        split: category -> {"train": [[safe, unsafe], ...], "held_out": [[safe, unsafe], ...]}.
        scores: direction label -> category -> {"safe": [...], "unsafe": [...]}: the held-out
            projections every AUROC is computed from. Labels: ``native``, ``universal``,
            ``transferred:<source>`` (target activations) and ``source:<source>`` (source activations).
        notes: warnings (low coverage, dropped held-out pairs, held-out prompts that are anchors).
        directions: the SafetyDirections behind the numbers (same labels as ``scores``); not serialised.
        alignments: source label -> the fitted :class:`~steering_core.alignment.maps.Alignment` that carried its
            direction (``transferred:<source>`` is its transport); not serialised.
    """

    sources: tuple[str, ...]
    target: str
    settings: dict[str, Any]
    maps: tuple[dict[str, Any], ...]
    rows: tuple[TransferRow, ...]
    split: dict[str, dict[str, list[list[str]]]]
    scores: dict[str, dict[str, dict[str, list[float]]]]
    notes: tuple[str, ...] = ()
    directions: dict[str, SafetyDirection] = field(default_factory=dict, repr=False, compare=False)
    alignments: dict[str, Alignment] = field(default_factory=dict, repr=False, compare=False)

    @property
    def categories(self) -> tuple[str, ...]:
        return tuple(r.category for r in self.rows)

    def row(self, category: str) -> TransferRow:
        for r in self.rows:
            if r.category == category:
                return r
        raise SafeSteerError(f"category {category!r} not in this report; it has {list(self.categories)}.")

    def mean_val_ratio(self, source: int = 0) -> float | None:
        """Mean ``val_ratio`` of source number ``source`` over the categories (``global`` excluded when there
        are several), over those where it is defined; ``None`` when it is defined nowhere."""
        rows = [r for r in self.rows if r.category != GLOBAL] or list(self.rows)
        values = [r.sources[source].val_ratio for r in rows if r.sources[source].val_ratio is not None]
        return float(np.mean(values)) if values else None

    def poor_transfer(self) -> list[str]:
        """One warning per source whose :meth:`mean_val_ratio` is below :data:`LOW_VAL_RATIO`; empty when none."""
        out = []
        for i, label in enumerate(self.sources):
            mean = self.mean_val_ratio(i)
            if mean is None or mean >= LOW_VAL_RATIO:
                continue
            low = [f"{r.category} {r.sources[i].val_ratio:.2f}" for r in self.rows
                   if r.sources[i].val_ratio is not None and r.sources[i].val_ratio < LOW_VAL_RATIO]
            out.append(
                f"poor transfer from {label}: validation ratio {mean:.2f} (transferred / source AUROC on a validation "
                f"split of the training pairs, mean over categories; below {LOW_VAL_RATIO}: {', '.join(low)}). The "
                f"{self.settings['map_kind']} map keeps little of the source direction's separation, so the transferred "
                "direction is unreliable (on real encoder pairs good maps read 0.92-0.97 and maps fitted on shuffled "
                "anchors 0.53-0.57). Use more, and more varied, anchor prompts, another map kind, or another source "
                "layer or pooling.")
        return out

    # ------------------------------------------------------------------ outputs
    def as_dict(self) -> dict[str, Any]:
        """JSON-serialisable: settings, maps, rows, warnings (:meth:`poor_transfer`), notes, the split and the
        held-out scores."""
        return {"kind": "SafeSteerTransferReport", "sources": list(self.sources), "target": self.target,
                "settings": dict(self.settings), "maps": [dict(m) for m in self.maps],
                "rows": [r.as_dict() for r in self.rows], "warnings": self.poor_transfer(), "notes": list(self.notes),
                "split": self.split, "held_out_scores": self.scores}

    def to_json(self, indent: int | None = 1) -> str:
        return json.dumps(self.as_dict(), indent=indent)

    def summary(self) -> str:
        """One paragraph stating the setting: encoders, map, anchors, pooling, split, seed; preceded by a
        ``**WARNING**`` line per source whose transfer is poor (:meth:`poor_transfer`)."""
        loud = "".join(f"**WARNING**: {w}\n\n" for w in self.poor_transfer())
        s = self.settings
        maps = "; ".join(
            f"{m['source']}: held-out R^2 {_fmt_opt(m.get('held_out_r2'))}, beta {m['beta']:.3g}" for m in self.maps)
        pooling = s["pooling"] + (f" (k={s['k']})" if s["pooling"].endswith("last_k") else "")
        if s["pooling"] == "auto":
            used = [f"{m['source']}: {m['source_pooling']}" for m in self.maps if m.get("source_pooling")]
            pooling += f" ({', '.join(used + [f'{self.target}: ' + str(s.get('target_pooling'))])})"
        return loud + (f"Transfer into **{self.target}** from {', '.join(f'**{n}**' for n in self.sources)}: "
                f"{s['map_kind']} map (lam {_fmt_lam(s['lam'], self.maps)}) fitted on {s['n_anchors']} benign anchors only ({maps})"
                f"{'; CONTROL: target anchors shuffled (random pairing)' if s.get('shuffle_anchors') else ''}; "
                f"{pooling} pooling; each category's pairs split {round(100 * (1 - s['test_fraction']))}/"
                f"{round(100 * s['test_fraction'])} into training / held-out (seed {s['seed']}). "
                "AUROC on the held-out pairs (safe = positive; 0.5 = chance). native: diff of means estimated in the "
                "target; transferred: the source's direction carried by the map; universal: top SVD axis of native + "
                "transferred; cos: cosine(transferred, native); coverage: share of the source direction inside the "
                "anchors' principal subspace; agreement: cross-fitted rank correlation of source and transported scores "
                "on benign anchors"
                + ("; val ratio: not measured (n/a)." if not s.get("validation", False) else
                   f"; val ratio: transferred / source AUROC on a validation split of the training pairs (held-out pairs "
                   f"untouched; the same map), which tracks transfer on real encoder pairs; a mean below {LOW_VAL_RATIO} "
                   "warns."))

    def to_markdown(self, summary: bool = True) -> str:
        """A markdown table, one row per category (``global`` first), preceded by :meth:`summary`."""
        multi = len(self.sources) > 1
        tags = [f"S{i + 1}" for i in range(len(self.sources))] if multi else [""]
        head = ["category", "pairs train / held-out"]
        for t in tags:
            head.append(f"source {t} (own space)".replace("  ", " "))
        head.append("native")
        head += [f"transferred {t}".strip() for t in tags]
        head.append("universal")
        head += [f"cos {t}".strip() for t in tags]
        head += [f"coverage {t}".strip() for t in tags]
        head += [f"agreement {t}".strip() for t in tags]
        head += [f"val ratio {t}".strip() for t in tags]
        lines = []
        if summary:
            lines += [self.summary(), ""]
            if multi:
                lines += ["Sources: " + ", ".join(f"{t} = {n}" for t, n in zip(tags, self.sources)), ""]
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for r in self.rows:
            cells = [r.category, f"{r.n_train} / {r.n_held_out}"]
            cells += [f"{s.source_auroc:.3f}" for s in r.sources]
            cells.append(f"{r.native_auroc:.3f}")
            cells += [f"{s.transferred_auroc:.3f}" for s in r.sources]
            cells.append(f"{r.universal_auroc:.3f}")
            cells += [f"{s.cosine:.3f}" for s in r.sources]
            cells += [f"{s.coverage:.3f}" for s in r.sources]
            cells += [_fmt_opt(s.agreement) for s in r.sources]
            cells += [_fmt_opt(s.val_ratio) for s in r.sources]
            lines.append("| " + " | ".join(cells) + " |")
        if summary and self.notes:
            lines += [""] + [f"- note: {n}" for n in self.notes]
        return "\n".join(lines)

    def plot_size(self) -> tuple[int, int]:
        """Default ``(width, height)`` of :meth:`plot`: wide enough for every category label."""
        return max(820, 260 + 110 * len(self.rows)), 420

    def plot(self, width: int | None = None, height: int | None = None) -> np.ndarray:
        """Grouped bars of held-out AUROC per category (native / transferred / universal), chance line at 0.5;
        ``uint8 [height, width, 3]`` (see :mod:`.plots`)."""
        from ..evidence.plots import bar_plot

        default_w, default_h = self.plot_size()
        multi = len(self.sources) > 1
        values: dict[str, list[float]] = {NATIVE: [r.native_auroc for r in self.rows]}
        for i, _ in enumerate(self.sources):
            values[f"transferred S{i + 1}" if multi else "transferred"] = [r.sources[i].transferred_auroc for r in self.rows]
        values[UNIVERSAL] = [r.universal_auroc for r in self.rows]
        return bar_plot([r.category for r in self.rows], values, title=f"Held-out AUROC in {self.target}",
                        ylabel="", width=width or default_w, height=height or default_h, ylim=(0.0, 1.0),
                        reference=0.5)

    def save(self, folder: str | os.PathLike[str]) -> dict[str, Path]:
        """Write ``report.md``, ``report.png`` and ``report.json`` into ``folder`` (created; files replaced)."""
        from ..evidence.plots import save_png

        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        paths = {"md": out / "report.md", "png": out / "report.png", "json": out / "report.json"}
        paths["md"].write_text(self.to_markdown() + "\n", encoding="utf-8")
        save_png(self.plot(), paths["png"])
        paths["json"].write_text(self.to_json() + "\n", encoding="utf-8")
        return paths


def _fmt_opt(value: float | None) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.3f}"


def _fmt_lam(lam: float | str, maps: Sequence[dict[str, Any]]) -> str:
    if isinstance(lam, str):
        chosen = ", ".join(f"{m['lam_selected']:g}" for m in maps if m.get("lam_selected") is not None)
        return f"{lam}: {chosen}" if chosen else lam
    return f"{lam:g}"


def encoder_label(encoder: TextEncoder) -> str:
    """An encoder's ``name`` (its class name when it has none)."""
    return str(getattr(encoder, "name", "") or type(encoder).__name__)


def _labels(encoders: Sequence[TextEncoder]) -> list[str]:
    """Unique display labels: the names, with the layer added where names collide, then an index."""
    names = [encoder_label(e) for e in encoders]
    out = []
    for e, n in zip(encoders, names):
        out.append(n if names.count(n) == 1 else f"{n} {getattr(e, 'layer', '')}".strip())
    for i, n in enumerate(out):
        if out.count(n) > 1:
            out[i] = f"{n} #{i + 1}"
    return out


def _as_pairs(category: str, items: Sequence[PromptPair | tuple[str, str]]) -> list[PromptPair]:
    pairs = []
    for item in items:
        if isinstance(item, PromptPair):
            pairs.append(item)
        elif isinstance(item, (tuple, list)) and len(item) == 2 and all(isinstance(p, str) and p.strip() for p in item):
            pairs.append(PromptPair(item[0], item[1]))
        else:
            raise PromptDataError(f"category {category!r}: expected PromptPair or (safe, unsafe) strings, got {item!r}.")
    return pairs


def split_categories(
    pairs_by_category: Mapping[str, Sequence[PromptPair | tuple[str, str]]],
    test_fraction: float = 0.3,
    seed: int = 0,
) -> tuple[dict[str, list[PromptPair]], dict[str, list[PromptPair]], int]:
    """Per category ``split_pairs(pairs, test_fraction, seed)``; then drop held-out pairs that share a prompt
    with any training pair (of any category). Returns ``(train, held_out, n_dropped)``."""
    if not pairs_by_category:
        raise PromptDataError("no prompt pairs given; pass {category: [PromptPair(safe, unsafe), ...]}.")
    if GLOBAL in pairs_by_category and len(pairs_by_category) > 1:
        raise PromptDataError(f"{GLOBAL!r} is computed from all categories together; do not pass it as a category.")
    train, held = {}, {}
    for category, items in pairs_by_category.items():
        pairs = _as_pairs(category, items)
        if len(pairs) < 2:
            raise PromptDataError(f"category {category!r} has {len(pairs)} pair(s); at least 2 are needed to hold some out.")
        train[category], held[category] = split_pairs(pairs, holdout=test_fraction, seed=seed)
    seen = {p for pairs in train.values() for pair in pairs for p in (pair.safe, pair.unsafe)}
    dropped = 0
    for category, pairs in held.items():
        kept = [p for p in pairs if p.safe not in seen and p.unsafe not in seen]
        dropped += len(pairs) - len(kept)
        if not kept:
            raise PromptDataError(f"category {category!r}: every held-out pair repeats a training prompt; "
                                  "give distinct prompt pairs.")
        held[category] = kept
    return train, held, dropped


def _encode_all(encoder: TextEncoder, prompts: list[str], pooling: str, k: int, batch_size: int,
                cache: str | os.PathLike[str] | None = None) -> dict[str, torch.Tensor]:
    """prompt -> pooled ``[D]`` float64; with ``cache``, read from / written to that pooled-encoding folder."""
    if cache is None:
        vectors = encode_pooled(encoder, prompts, pooling=pooling, k=k, batch_size=batch_size)
    else:
        from ..encoders.pooled_cache import cached_pooled

        prompts = sorted(set(prompts))  # one file per prompt *set*: every split seed of the same data reuses it
        vectors, _ = cached_pooled(encoder, prompts, cache, pooling=pooling, k=k, batch_size=batch_size)
    vectors = vectors.to(torch.float64)
    return {p: vectors[i] for i, p in enumerate(prompts)}


def _stack(table: dict[str, torch.Tensor], prompts: Sequence[str]) -> torch.Tensor:
    return torch.stack([table[p] for p in prompts])


def validation_split(
    train: Mapping[str, Sequence[PromptPair]], test_fraction: float, seed: int,
) -> tuple[dict[str, list[PromptPair]], dict[str, list[PromptPair]]]:
    """The inner split behind ``val_ratio``: the *training* pairs split again by :func:`split_categories` (same
    ``test_fraction`` and ``seed``), with a ``global`` entry (the union) when there are several categories.
    Returns ``(inner_train, validation)``; raises :class:`PromptDataError` when a category is too small."""
    inner, val, _ = split_categories(train, test_fraction, seed)
    if len(inner) > 1:
        inner = {GLOBAL: [p for ps in inner.values() for p in ps], **inner}
        val = {GLOBAL: [p for ps in val.values() for p in ps], **val}
    return inner, val


def val_ratio(source_auroc: float, transferred_auroc: float) -> float | None:
    """``transferred / source`` AUROC; ``None`` when the source direction does not separate (AUROC <= 0.5)."""
    return transferred_auroc / source_auroc if source_auroc > 0.5 else None


def transfer_report(
    source_encoder: TextEncoder | Sequence[TextEncoder],
    target_encoder: TextEncoder,
    pairs_by_category: Mapping[str, Sequence[PromptPair | tuple[str, str]]],
    anchors: Sequence[str],
    map_kind: str = "ridge",
    test_fraction: float = 0.3,
    seed: int = 0,
    pooling: str = "auto",
    k: int = 5,
    lam: float | str = "auto",
    batch_size: int = 32,
    progress: Callable[[str], None] | None = None,
    shuffle_anchors: bool = False,
    agreement: bool = True,
    cache: str | os.PathLike[str] | None = None,
    validation: bool = True,
    safe_prompts_as_anchors: bool = False,
) -> TransferReport:
    """Measure how safety directions transfer from source encoder(s) into a target encoder.

    Args:
        source_encoder: one :class:`~steering_core.encoders.TextEncoder` or a sequence of them (each gets
            its own alignment; the universal direction then spans native + every transferred direction).
        target_encoder: the encoder whose space everything is evaluated in.
        pairs_by_category: category -> safe/unsafe pairs (``PromptPair`` or ``(safe, unsafe)``), at least
            2 per category. With two or more categories a ``global`` row (all categories pooled) comes first.
        anchors: benign prompts; the only prompts the alignment sees (at least 4).
        map_kind: "ridge", "procrustes" or "mlp" (see :func:`fit_alignment`); ``lam`` its ridge penalty
            (relative), ``seed`` its anchor hold-out (for the R^2 diagnostic) and MLP seed.
        test_fraction: share of each category's pairs held out for the AUROCs; ``seed`` seeds the split.
        pooling, k: how token states become one vector per prompt ("auto": by each encoder's kind, see
            :func:`encoders.base.encoder_pooling`; or any of :data:`pooling.POOLING_CHOICES`, with ``k``).
        progress: optional callback, called with a short message before each stage.
        shuffle_anchors: the control: pair each source anchor with a random (seeded) other anchor's
            target activations, so the map learns no correspondence; transfer should fall to chance.
        agreement: measure each source direction's score agreement (cross-fitted; costs 5 extra map fits).
        cache: optional folder of pooled encodings (:mod:`steering_core.encoders.pooled_cache`): each encoder's vectors of this
            prompt set are read from it when present, else encoded and written there.
        validation: measure each source's validation ratio (``val_ratio``: the training pairs split again, the
            source direction of the inner part carried by the same map; no refit, no encoding, one more direction
            estimate and transport per source). A mean below :data:`LOW_VAL_RATIO` raises a :class:`PoorTransferWarning`.
        safe_prompts_as_anchors: also fit the map on the *safe* prompt of every training pair (benign prompts
            on the categories' own subjects, so the map sees the variation the directions live in; the target
            still sees no unsafe prompt, and no held-out prompt joins the anchors). ``val_ratio`` keeps the one
            fitted map, so its validation pairs' safe prompts (never their unsafe ones) were among its anchors.

    Returns:
        A :class:`TransferReport` (markdown table, PNG plot, JSON dict). See the module docstring for
        the exact definitions.
    """
    sources = list(source_encoder) if isinstance(source_encoder, (list, tuple)) else [source_encoder]
    if not sources:
        raise SafeSteerError("no source encoder given.")
    for enc in [*sources, target_encoder]:
        if not callable(getattr(enc, "encode", None)):  # not isinstance(TextEncoder): that would evaluate lazy properties
            raise SafeSteerError(f"{enc!r} is not a TextEncoder (it needs encode(prompts) -> EncodedPrompts).")
    if map_kind not in MAP_KINDS:
        raise SafeSteerError(f"unknown map kind {map_kind!r}; choose one of {', '.join(MAP_KINDS)}.")
    if not 0.0 < test_fraction < 1.0:
        raise SafeSteerError(f"test_fraction must be between 0 and 1, got {test_fraction}.")
    if pooling != "auto" and pooling not in TOKEN_POOLINGS:
        raise SafeSteerError(f"pooling must be 'auto' or one of {', '.join(TOKEN_POOLINGS)}, got {pooling!r}.")
    anchor_list = list(dict.fromkeys(a.strip() for a in anchors if a and a.strip()))
    if len(anchor_list) < 4:
        raise PromptDataError(f"{len(anchor_list)} distinct anchor prompts given; the alignment needs at least 4 "
                              "(hundreds are better).")
    say = progress or (lambda _msg: None)

    train, held, dropped = split_categories(pairs_by_category, test_fraction, seed)
    categories = list(train)
    with_global = len(categories) > 1
    rows_order = ([GLOBAL] if with_global else []) + categories
    train_g = {**({GLOBAL: [p for c in categories for p in train[c]]} if with_global else {}), **train}
    held_g = {**({GLOBAL: [p for c in categories for p in held[c]]} if with_global else {}), **held}
    pair_prompts = [x for c in categories for p in train[c] + held[c] for x in (p.safe, p.unsafe)]
    shipped_anchors = len(anchor_list)
    if safe_prompts_as_anchors:
        held_prompts = {x for c in categories for p in held[c] for x in (p.safe, p.unsafe)}
        anchor_list = list(dict.fromkeys(anchor_list + [p.safe for c in categories for p in train[c]
                                                        if p.safe not in held_prompts]))
    everything = list(dict.fromkeys(anchor_list + pair_prompts))

    source_labels = _labels(sources)
    target_label = encoder_label(target_encoder)
    if target_label in source_labels:
        target_label = f"{target_label} {getattr(target_encoder, 'layer', '')}".strip()
    if target_label in source_labels:
        target_label = f"{target_label} (target)"

    say(f"encoding {len(everything)} prompts with {target_label}")
    tgt = _encode_all(target_encoder, everything, encoder_pooling(target_encoder, pooling), k, batch_size, cache)

    def directions(table: dict[str, torch.Tensor], encoder: TextEncoder,
                   pairs: Mapping[str, Sequence[PromptPair]] | None = None) -> SafetyDirection:
        pairs = train if pairs is None else pairs
        data = {c: (_stack(table, [p.safe for p in pairs[c]]), _stack(table, [p.unsafe for p in pairs[c]])) for c in categories}
        return estimate_category_directions(data, pooling=encoder_pooling(encoder, pooling), k=k, include_global=with_global,
                                            layer=str(getattr(encoder, "layer", "")), source_model=encoder_label(encoder),
                                            source_fingerprint=str(getattr(encoder, "fingerprint", "")))

    def held_scores(direction: SafetyDirection, table: dict[str, torch.Tensor],
                    pairs: Mapping[str, Sequence[PromptPair]] | None = None) -> dict[str, dict[str, list[float]]]:
        pairs = held_g if pairs is None else pairs
        out = {}
        for c in rows_order:
            v = direction.vectors[direction.index(c)].to(torch.float64)
            out[c] = {"safe": (_stack(table, [p.safe for p in pairs[c]]) @ v).tolist(),
                      "unsafe": (_stack(table, [p.unsafe for p in pairs[c]]) @ v).tolist()}
        return out

    native = directions(tgt, target_encoder)
    scores: dict[str, dict[str, dict[str, list[float]]]] = {NATIVE: held_scores(native, tgt)}
    dirs: dict[str, SafetyDirection] = {NATIVE: native}
    notes: list[str] = []
    if dropped:
        notes.append(f"{dropped} held-out pair(s) dropped because a prompt of theirs is also a training prompt.")
    if safe_prompts_as_anchors:
        notes.append(f"anchors: {shipped_anchors} given + {len(anchor_list) - shipped_anchors} safe prompts of the "
                     "training pairs (benign; no held-out prompt).")
    anchor_set = set(anchor_list)
    in_anchors = sum(1 for c in categories for p in held[c] for x in (p.safe, p.unsafe) if x in anchor_set)
    if in_anchors:
        notes.append(f"{in_anchors} held-out prompt(s) are also anchors (the map saw their benign activations).")
    inner_train: dict[str, list[PromptPair]] = {}
    val_pairs: dict[str, list[PromptPair]] = {}
    if validation:
        try:
            inner_train, val_pairs = validation_split(train, test_fraction, seed)
        except PromptDataError as exc:
            notes.append(f"validation ratio not measured: the training pairs cannot be split again ({exc}) Give more "
                         "pairs per category or a smaller test_fraction.")

    maps: list[dict[str, Any]] = []
    moved_all: list[SafetyDirection] = []
    coverages: list[dict[str, float]] = []
    agreements: list[dict[str, float | None]] = []
    val_ratios: list[dict[str, float | None]] = []
    fitted: dict[str, Alignment] = {}
    tgt_anchor = _stack(tgt, anchor_list)
    if shuffle_anchors:
        tgt_anchor = tgt_anchor[torch.randperm(len(anchor_list), generator=torch.Generator().manual_seed(seed + 1))]
        notes.append("CONTROL: the target anchors were shuffled, so the map was fitted on randomly paired prompts.")
    for encoder, label in zip(sources, source_labels):
        say(f"encoding {len(everything)} prompts with {label}")
        src = _encode_all(encoder, everything, encoder_pooling(encoder, pooling), k, batch_size, cache)
        source_dir = directions(src, encoder)
        scores[f"source:{label}"] = held_scores(source_dir, src)
        dirs[f"source:{label}"] = source_dir
        say(f"fitting the {map_kind} map {label} -> {target_label} on {len(anchor_list)} anchors")
        alignment = fit_alignment(_stack(src, anchor_list), tgt_anchor, map_kind, lam=lam, seed=seed,
                                  source_model=label, target_model=target_label,
                                  source_layer=source_dir.layer, target_layer=native.layer)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", LowCoverageWarning)
            warnings.simplefilter("always", PoorTransferWarning)
            moved = alignment.transport(source_dir, calibrate=False, agreement=agreement)
        notes += [f"{label}: {w.message}" for w in caught
                  if issubclass(w.category, (LowCoverageWarning, PoorTransferWarning))]
        report_rows = moved.info["transport"]["rows"]
        agreements.append({r["category"]: r.get("agreement") for r in report_rows})
        coverages.append({c: float(x) for c, x in zip(source_dir.categories,
                                                      alignment.coverage(source_dir.vectors).tolist())})
        moved_all.append(moved)
        val_ratios.append(_validation_ratios(alignment, directions(src, encoder, inner_train), src, tgt, val_pairs,
                                             held_scores, label, notes) if val_pairs else {})
        scores[f"transferred:{label}"] = held_scores(moved, tgt)
        dirs[f"transferred:{label}"] = moved
        fitted[label] = alignment
        maps.append({"source": label, "kind": alignment.kind, "held_out_r2": alignment.held_out_r2,
                     "beta": float(alignment.beta), "n_anchors": int(alignment.diagnostics["n_anchors"]),
                     "n_train_anchors": int(alignment.diagnostics["n_train"]),
                     "source_dim": alignment.source_dim, "target_dim": alignment.target_dim,
                     "lam_selected": alignment.settings.get("lam_selected"), "loo_r2": alignment.settings.get("loo_r2"),
                     "source_pooling": encoder_pooling(encoder, pooling)})

    universal = universal_direction([native, *moved_all], names=[NATIVE, *source_labels])
    scores[UNIVERSAL] = held_scores(universal, tgt)
    dirs[UNIVERSAL] = universal

    def auc(label: str, c: str) -> float:
        return auroc(scores[label][c]["safe"], scores[label][c]["unsafe"])

    rows = []
    for c in rows_order:
        per_source = tuple(
            SourceResult(source=label, source_auroc=auc(f"source:{label}", c), transferred_auroc=auc(f"transferred:{label}", c),
                         cosine=cosine(moved.vectors[moved.index(c)], native.vectors[native.index(c)]),
                         coverage=coverages[i][c], agreement=agreements[i].get(c), val_ratio=val_ratios[i].get(c))
            for i, (label, moved) in enumerate(zip(source_labels, moved_all)))
        rows.append(TransferRow(category=c, n_train=len(train_g[c]), n_held_out=len(held_g[c]), native_auroc=auc(NATIVE, c),
                                universal_auroc=auc(UNIVERSAL, c), sources=per_source,
                                n_validation=len(val_pairs.get(c, ()))))
    settings = {"map_kind": map_kind, "lam": lam, "pooling": pooling, "k": k, "test_fraction": test_fraction, "seed": seed,
                "shuffle_anchors": shuffle_anchors, "validation": bool(val_pairs),
                "target_pooling": encoder_pooling(target_encoder, pooling),
                "source_poolings": [encoder_pooling(e, pooling) for e in sources],
                "n_anchors": len(anchor_list), "safe_prompts_as_anchors": safe_prompts_as_anchors,
                "categories": categories,
                "target_layer": str(getattr(target_encoder, "layer", "")),
                "source_layers": [str(getattr(e, "layer", "")) for e in sources]}
    split = {c: {"train": [[p.safe, p.unsafe] for p in train[c]], "held_out": [[p.safe, p.unsafe] for p in held[c]]}
             for c in categories}
    report = TransferReport(sources=tuple(source_labels), target=target_label, settings=settings, maps=tuple(maps),
                            rows=tuple(rows), split=split, scores=scores, notes=tuple(notes), directions=dirs,
                            alignments=fitted)
    for message in report.poor_transfer():
        warnings.warn(message, PoorTransferWarning, stacklevel=2)
    return report


def _validation_ratios(alignment: Any, inner_direction: SafetyDirection, src: dict[str, torch.Tensor],
                       tgt: dict[str, torch.Tensor], val_pairs: Mapping[str, Sequence[PromptPair]],
                       scores: Callable[..., dict[str, dict[str, list[float]]]], label: str,
                       notes: list[str]) -> dict[str, float | None]:
    """Category -> ``val_ratio`` of one source: ``inner_direction`` (estimated on the inner training pairs in the
    source) carried by the already fitted ``alignment``, scored on the validation pairs in the target, over the same
    direction's AUROC on them in the source. Categories where the source does not separate get ``None`` and a note."""
    with warnings.catch_warnings():
        # coverage and agreement are reported for the full direction; the inner one would only repeat them
        warnings.simplefilter("ignore", LowCoverageWarning)
        moved = alignment.transport(inner_direction, calibrate=False, agreement=False)
    own, carried = scores(inner_direction, src, val_pairs), scores(moved, tgt, val_pairs)
    out = {c: val_ratio(auroc(own[c]["safe"], own[c]["unsafe"]), auroc(carried[c]["safe"], carried[c]["unsafe"]))
           for c in own}
    blind = [c for c, v in out.items() if v is None]
    if blind:
        notes.append(f"{label}: no validation ratio for {', '.join(blind)}: the source direction of the inner training "
                     "pairs does not separate their validation pairs (AUROC <= 0.5); give more pairs.")
    return out
