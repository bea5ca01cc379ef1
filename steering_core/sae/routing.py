"""Robustness-aware routing: rank intervention sites by how well a safety direction there survives
a shift of risk category, before any SAE is trained.

Inputs per site: pooled activations ``[N, D]`` (one row per prompt), ``unsafe`` (BoolTensor
``[N]``) and ``categories`` (N names; a safe prompt carries its pair's category). Sign convention
as everywhere in SafeSteer: a direction is ``mean(safe) - mean(unsafe)`` (unsafe -> safe), a
prompt's score is its dot product with the direction, and every AUROC is
``steering_core.directions.metrics.auroc(positive = safe scores, negative = unsafe scores)``, so 1.0 means the
direction ranks every safe prompt above every unsafe one, 0.5 chance, 0.0 reversed.

Scores of one site:

* **in-domain AUROC**: stratified K-fold (``folds``, default 4) over the prompts of the source
  categories (:func:`stratified_folds`: each class is shuffled with ``seed``, ordered by category and
  dealt to the folds in turn, so every fold holds both classes and every category). For fold f the
  direction is fitted on the other folds and the AUROC is taken on fold f; the score is the mean of
  the K fold AUROCs.
* **shift AUROC** of a held-out category c: without ``source``/``target`` (leave-one-category-out;
  every category is a source): fit on all prompts of the other categories, AUROC on the prompts
  of c. With ``source`` and ``target``: fit on all prompts of the source categories, AUROC on the
  prompts of each target category. ``shift_mean`` / ``shift_worst`` are their mean / minimum.
* **robust score** ``= shift_mean - lam * max(0, in_domain - shift_mean)`` (``lam`` default 0.5): the
  AUROC after a shift, penalised by how much of the in-domain separation does not carry over.
* **stability**: mean cosine between the all-source direction and each direction fitted on a
  subset (the K in-domain fold directions, plus the leave-one-category-out directions when used);
  1 means every subset finds the same direction. A zero direction counts as cosine 0.

Sites are ranked by robust score (descending), ties broken by ``shift_worst`` (descending), then by
site key. Directions are fitted and scored in float64.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
import torch

from ..errors import SafeSteerError
from ..directions.metrics import auroc
from ..validation import require_finite


@dataclass
class SiteScore:
    """Routing scores of one site (see the module docstring for definitions).

    Attributes:
        site: the site key.
        robust_score: ``shift_mean - lam * max(0, in_domain_auroc - shift_mean)``.
        in_domain_auroc: mean held-out AUROC of the K in-domain folds.
        shift_mean, shift_worst: mean / minimum shift AUROC over the held-out categories.
        stability: mean cosine of the subset directions to the all-source direction.
        shift_auroc: shift AUROC per held-out category.
        fold_auroc: in-domain AUROC per fold.
        rank: 1-based position in the ranking (0 until ranked).
        dim: activation size ``D`` at the site.
    """

    site: str
    robust_score: float
    in_domain_auroc: float
    shift_mean: float
    shift_worst: float
    stability: float
    shift_auroc: dict[str, float] = field(default_factory=dict)
    fold_auroc: list[float] = field(default_factory=list)
    rank: int = 0
    dim: int = 0


def _as_labels(unsafe: object, categories: Sequence[str], n: int) -> tuple[np.ndarray, np.ndarray]:
    u = torch.as_tensor(unsafe)
    if u.dtype != torch.bool or u.ndim != 1:
        raise SafeSteerError(f"unsafe must be a 1-D BoolTensor (True = unsafe prompt), got dtype {u.dtype} "
                             f"and shape {tuple(u.shape)}.")
    cats = np.asarray([str(c) for c in categories], dtype=object)
    if u.numel() != n or len(cats) != n:
        raise SafeSteerError(f"the site activations have {n} rows but unsafe has {u.numel()} entries and "
                             f"categories {len(cats)}; give one entry per prompt.")
    return u.cpu().numpy(), cats


def stratified_folds(unsafe: object, categories: Sequence[str], folds: int = 4, seed: int = 0) -> torch.Tensor:
    """Fold index ``[N]`` (LongTensor, values ``0..folds-1``) for stratified K-fold.

    Per class (safe, then unsafe): the prompts are shuffled with ``numpy.random.default_rng([seed,
    class])``, sorted stably by category, and the j-th gets fold ``j mod folds``. Needs at least
    ``folds`` prompts of each class so every fold holds both.
    """
    n = len(categories)
    u, cats = _as_labels(unsafe, categories, n)
    if folds < 2:
        raise SafeSteerError(f"stratified K-fold needs folds >= 2, got {folds}.")
    out = np.zeros(n, dtype=np.int64)
    for cls in (False, True):
        idx = np.flatnonzero(u == cls)
        if idx.size < folds:
            raise SafeSteerError(f"only {idx.size} {'unsafe' if cls else 'safe'} prompt(s) for {folds}-fold "
                                 "in-domain scoring; add prompts or lower folds.")
        idx = np.random.default_rng([seed, int(cls)]).permutation(idx)
        idx = idx[np.argsort(cats[idx], kind="stable")]
        out[idx] = np.arange(idx.size) % folds
    return torch.from_numpy(out)


def _direction(x: torch.Tensor, unsafe: np.ndarray, mask: np.ndarray) -> torch.Tensor:
    m = torch.from_numpy(mask)
    safe = x[m & torch.from_numpy(~unsafe)]
    bad = x[m & torch.from_numpy(unsafe)]
    return safe.mean(0) - bad.mean(0)


def _auroc_on(x: torch.Tensor, direction: torch.Tensor, unsafe: np.ndarray, mask: np.ndarray) -> float:
    scores = x[torch.from_numpy(mask)] @ direction
    u = torch.from_numpy(unsafe[mask])
    return auroc(scores[~u], scores[u])


def _cos(a: torch.Tensor, b: torch.Tensor) -> float:
    na, nb = float(a.norm()), float(b.norm())
    return float(a @ b) / (na * nb) if na > 0 and nb > 0 else 0.0


def _check_categories(unsafe: np.ndarray, cats: np.ndarray, source: list[str] | None,
                      target: list[str] | None) -> tuple[list[str], list[str], bool]:
    present = sorted(set(cats.tolist()))
    for c in present:
        in_c = cats == c
        if not (in_c & ~unsafe).any() or not (in_c & unsafe).any():
            raise SafeSteerError(f"category {c!r} has no {'safe' if not (in_c & ~unsafe).any() else 'unsafe'} prompt; "
                                 "every category needs both to fit and score a direction.")
    if (source is None) != (target is None):
        raise SafeSteerError("give both source and target category lists, or neither (leave-one-category-out).")
    if source is None or target is None:
        if len(present) < 2:
            raise SafeSteerError(f"leave-one-category-out needs at least 2 categories, got {present}; add prompts of "
                                 "another category or give source and target lists.")
        return present, present, True
    unknown = [c for c in list(source) + list(target) if c not in present]
    overlap = sorted(set(source) & set(target))
    if unknown or overlap or not source or not target:
        raise SafeSteerError(f"source {list(source)} and target {list(target)} must be non-empty, disjoint lists of "
                             f"categories present in the data ({', '.join(present)})"
                             + (f"; unknown: {unknown}" if unknown else "") + (f"; in both: {overlap}" if overlap else "") + ".")
    return list(source), list(target), False


def _score_site(site: str, x: torch.Tensor, unsafe: np.ndarray, cats: np.ndarray, source: list[str],
                target: list[str], loco: bool, fold_of: np.ndarray, folds: int, lam: float) -> SiteScore:
    in_source = np.isin(cats, source)
    full = _direction(x, unsafe, in_source)
    subset_dirs = []
    fold_auc = []
    for f in range(folds):
        held = in_source & (fold_of == f)
        d = _direction(x, unsafe, in_source & ~held)
        subset_dirs.append(d)
        fold_auc.append(_auroc_on(x, d, unsafe, held))
    shift: dict[str, float] = {}
    for c in target:
        in_c = cats == c
        if loco:
            d = _direction(x, unsafe, in_source & ~in_c)
            subset_dirs.append(d)
        else:
            d = full
        shift[c] = _auroc_on(x, d, unsafe, in_c)
    in_domain = float(np.mean(fold_auc))
    shift_mean, shift_worst = float(np.mean(list(shift.values()))), float(min(shift.values()))
    robust = shift_mean - lam * max(0.0, in_domain - shift_mean)
    stability = float(np.mean([_cos(d, full) for d in subset_dirs]))
    return SiteScore(site, robust, in_domain, shift_mean, shift_worst, stability, shift, fold_auc, dim=x.shape[1])


def rank_sites(site_acts: Mapping[str, torch.Tensor], unsafe: object, categories: Sequence[str],
               source: Sequence[str] | None = None, target: Sequence[str] | None = None, lam: float = 0.5,
               folds: int = 4, seed: int = 0) -> list[SiteScore]:
    """Score every site (``site_acts``: key -> pooled activations ``[N, D]``) and rank them, best first."""
    if not site_acts:
        raise SafeSteerError("no sites to rank; give at least one site's pooled activations.")
    if lam < 0:
        raise SafeSteerError(f"lam must be >= 0, got {lam}.")
    sizes = {k: (tuple(v.shape) if isinstance(v, torch.Tensor) else None) for k, v in site_acts.items()}
    bad = [k for k, s in sizes.items() if s is None or len(s) != 2]
    if bad:
        raise SafeSteerError(f"site(s) {bad}: pooled activations must be tensors of shape [N, D].")
    ns = {s[0] for s in sizes.values() if s is not None}
    if len(ns) != 1:
        raise SafeSteerError(f"the sites hold different numbers of prompts ({', '.join(f'{k}: {s[0]}' for k, s in sizes.items() if s)}); "
                             "pool the same prompts at every site.")
    n = ns.pop()
    u, cats = _as_labels(unsafe, categories, n)
    src, tgt, loco = _check_categories(u, cats, list(source) if source is not None else None,
                                       list(target) if target is not None else None)
    in_source = np.isin(cats, src)
    fold_of = np.full(n, -1, dtype=np.int64)
    fold_of[in_source] = stratified_folds(torch.from_numpy(u[in_source]), cats[in_source].tolist(), folds, seed).numpy()
    scores = []
    for site, acts in site_acts.items():
        require_finite(acts, f"pooled activations at site {site!r}")
        x = acts.detach().to("cpu", torch.float64)
        scores.append(_score_site(site, x, u, cats, src, tgt, loco, fold_of, folds, lam))
    scores.sort(key=lambda s: (-s.robust_score, -s.shift_worst, s.site))
    for i, s in enumerate(scores, 1):
        s.rank = i
    return scores


def top_sites(ranking: Sequence[SiteScore], k: int) -> list[str]:
    """The keys of the first ``k`` sites of a ranking (all of them when fewer)."""
    if k < 1:
        raise SafeSteerError(f"top_sites needs k >= 1, got {k}.")
    return [s.site for s in ranking[:k]]


def ranking_markdown(ranking: Sequence[SiteScore]) -> str:
    """A markdown table: rank, site, robust, in-domain AUROC, shift mean, shift worst, stability (3 decimals)."""
    lines = ["| rank | site | robust | in-domain AUROC | shift mean | shift worst | stability |",
             "|---:|---|---:|---:|---:|---:|---:|"]
    for i, s in enumerate(ranking, 1):
        site = s.site.replace("|", "\\|")
        lines.append(f"| {s.rank or i} | {site} | {s.robust_score:.3f} | {s.in_domain_auroc:.3f} | {s.shift_mean:.3f} "
                     f"| {s.shift_worst:.3f} | {s.stability:.3f} |")
    return "\n".join(lines) + "\n"
