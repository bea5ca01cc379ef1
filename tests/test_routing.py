"""Robustness-aware routing of intervention sites: a site whose separation collapses under a shift
of risk category must rank below a weaker but shared one; numbers checked against brute force."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from steering_core.errors import NonFiniteError, SafeSteerError
from steering_core.sae.routing import SiteScore, rank_sites, ranking_markdown, stratified_folds, top_sites

pytestmark = pytest.mark.host_independent

CATS = ["hate", "sexual", "violence", "self_harm"]


def _labels(per: int) -> tuple[torch.Tensor, list[str]]:
    """``per`` safe then ``per`` unsafe prompts for each category, in category blocks."""
    unsafe = torch.tensor(([False] * per + [True] * per) * len(CATS))
    cats = [c for c in CATS for _ in range(2 * per)]
    return unsafe, cats


def _sites(per: int, seed: int = 0, flip_targets: bool = False) -> tuple[dict[str, torch.Tensor], torch.Tensor, list[str]]:
    """Site A: strong unsafe signal along a direction of its own per category (or, with
    ``flip_targets``, one shared direction whose sign flips on the last two categories).
    Site B: a weaker signal along one direction shared by every category."""
    unsafe, cats = _labels(per)
    g = torch.Generator().manual_seed(seed)
    d = 12
    a = torch.randn(len(cats), d, generator=g, dtype=torch.float64)
    b = torch.randn(len(cats), d, generator=g, dtype=torch.float64)
    for i, c in enumerate(cats):
        ci = CATS.index(c)
        if unsafe[i]:
            if flip_targets:
                a[i, 0] -= 3.0 if ci < 2 else -3.0
            else:
                a[i, ci] -= 3.0  # safe - unsafe = +3 e_c: orthogonal across categories
            b[i, 5] -= 1.2
    return {"A": a.float(), "B": b.float()}, unsafe, cats


def _auroc_pairs(pos: np.ndarray, neg: np.ndarray) -> float:
    """Brute-force AUROC: the share of (safe, unsafe) pairs ranked right, ties one half."""
    wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(wins / (pos.size * neg.size))


def _dir(x: np.ndarray, unsafe: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return x[mask & ~unsafe].mean(0) - x[mask & unsafe].mean(0)


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_shared_weak_site_beats_strong_site_that_collapses_under_shift() -> None:
    acts, unsafe, cats = _sites(per=30)
    ranking = rank_sites(acts, unsafe, cats)
    a, b = {s.site: s for s in ranking}["A"], {s.site: s for s in ranking}["B"]
    assert [s.site for s in ranking] == ["B", "A"] and (b.rank, a.rank) == (1, 2)
    assert a.in_domain_auroc > b.in_domain_auroc  # A separates better in-domain ...
    assert a.shift_mean < 0.65 < b.shift_mean  # ... but held-out categories see noise along A's direction
    assert b.stability > a.stability
    assert set(a.shift_auroc) == set(CATS) and len(a.fold_auroc) == 4
    assert top_sites(ranking, 1) == ["B"] and top_sites(ranking, 5) == ["B", "A"]


def test_source_target_split_with_flipped_direction() -> None:
    acts, unsafe, cats = _sites(per=25, seed=1, flip_targets=True)
    ranking = rank_sites(acts, unsafe, cats, source=["hate", "sexual"], target=["violence", "self_harm"])
    a, b = {s.site: s for s in ranking}["A"], {s.site: s for s in ranking}["B"]
    assert [s.site for s in ranking] == ["B", "A"]
    assert a.in_domain_auroc > 0.95 and a.in_domain_auroc > b.in_domain_auroc
    assert a.shift_worst < 0.1 and a.robust_score < 0  # the direction points the wrong way on the targets
    assert set(a.shift_auroc) == {"violence", "self_harm"}


def test_numbers_against_brute_force_reference() -> None:
    acts, unsafe, cats = _sites(per=6, seed=2)
    lam = 0.7
    ranking = rank_sites(acts, unsafe, cats, lam=lam, folds=3, seed=5)
    u = unsafe.numpy()
    c = np.asarray(cats)
    folds = stratified_folds(unsafe, cats, folds=3, seed=5).numpy()
    for score in ranking:
        x = acts[score.site].double().numpy()
        full = _dir(x, u, np.ones_like(u))
        dirs, fold_auc = [], []
        for f in range(3):
            d = _dir(x, u, folds != f)
            dirs.append(d)
            s = x[folds == f] @ d
            fold_auc.append(_auroc_pairs(s[~u[folds == f]], s[u[folds == f]]))
        shift = {}
        for cat in CATS:
            d = _dir(x, u, c != cat)
            dirs.append(d)
            s = x[c == cat] @ d
            shift[cat] = _auroc_pairs(s[~u[c == cat]], s[u[c == cat]])
        assert score.fold_auroc == pytest.approx(fold_auc, abs=1e-12)
        assert score.shift_auroc == pytest.approx(shift, abs=1e-12)
        in_dom, mean_shift = np.mean(fold_auc), np.mean(list(shift.values()))
        assert score.in_domain_auroc == pytest.approx(in_dom, abs=1e-12)
        assert score.shift_mean == pytest.approx(mean_shift, abs=1e-12)
        assert score.shift_worst == pytest.approx(min(shift.values()), abs=1e-12)
        assert score.robust_score == pytest.approx(mean_shift - lam * max(0.0, in_dom - mean_shift), abs=1e-12)
        assert score.stability == pytest.approx(np.mean([_cos(d, full) for d in dirs]), abs=1e-9)
        assert score.dim == 12


def test_stratified_folds_balance_classes_and_categories() -> None:
    unsafe, cats = _labels(per=7)
    folds = stratified_folds(unsafe, cats, folds=4, seed=3)
    assert torch.equal(folds, stratified_folds(unsafe, cats, folds=4, seed=3))
    assert not torch.equal(folds, stratified_folds(unsafe, cats, folds=4, seed=4))
    assert set(folds.tolist()) == {0, 1, 2, 3}
    for cls in (False, True):
        counts = np.bincount(folds[unsafe == cls].numpy(), minlength=4)
        assert counts.max() - counts.min() <= 1  # 28 prompts per class over 4 folds: 7 each
    for cat in CATS:  # each category is spread over the folds, not left in one
        in_cat = torch.tensor([x == cat for x in cats])
        assert len(set(folds[in_cat].tolist())) >= 3
    with pytest.raises(SafeSteerError, match="lower folds"):
        stratified_folds(torch.tensor([False, True, True]), ["a", "a", "a"], folds=2)


def test_markdown_table() -> None:
    ranking = [SiteScore("double:3", 0.81234, 0.9, 0.85, 0.7, 0.95, rank=1),
               SiteScore("a|b", -0.1, 0.99, 0.2, 0.05, 0.3, rank=2)]
    lines = ranking_markdown(ranking).strip().split("\n")
    assert lines[0] == "| rank | site | robust | in-domain AUROC | shift mean | shift worst | stability |"
    assert lines[2] == "| 1 | double:3 | 0.812 | 0.900 | 0.850 | 0.700 | 0.950 |"
    assert lines[3] == "| 2 | a\\|b | -0.100 | 0.990 | 0.200 | 0.050 | 0.300 |"
    assert len(lines) == 4
    real = ranking_markdown(rank_sites(*_sites(per=10)))
    assert real.count("\n") == 4 and "| 1 | B |" in real and "| 2 | A |" in real


def test_input_errors() -> None:
    acts, unsafe, cats = _sites(per=5)
    with pytest.raises(SafeSteerError, match="at least 2 categories"):
        rank_sites({"A": acts["A"][:10]}, unsafe[:10], cats[:10])
    no_unsafe = unsafe.clone()
    no_unsafe[torch.tensor([c == "sexual" for c in cats])] = False
    with pytest.raises(SafeSteerError, match="'sexual' has no unsafe prompt"):
        rank_sites(acts, no_unsafe, cats)
    with pytest.raises(SafeSteerError, match="different numbers of prompts"):
        rank_sites({"A": acts["A"], "B": acts["B"][:-1]}, unsafe, cats)
    with pytest.raises(SafeSteerError, match="one entry per prompt"):
        rank_sites(acts, unsafe[:-1], cats[:-1])
    bad = acts["A"].clone()
    bad[3, 2] = float("nan")
    with pytest.raises(NonFiniteError, match="site 'A'"):
        rank_sites({"A": bad}, unsafe, cats)
    with pytest.raises(SafeSteerError, match="BoolTensor"):
        rank_sites(acts, unsafe.long(), cats)
    with pytest.raises(SafeSteerError, match="both source and target"):
        rank_sites(acts, unsafe, cats, source=["hate"])
    with pytest.raises(SafeSteerError, match="in both"):
        rank_sites(acts, unsafe, cats, source=["hate", "sexual"], target=["sexual"])
    with pytest.raises(SafeSteerError, match="unknown"):
        rank_sites(acts, unsafe, cats, source=["hate"], target=["weapons"])
    with pytest.raises(SafeSteerError, match="k >= 1"):
        top_sites([], 0)
