"""The transfer report's validation ratio (``val_ratio``) and its poor-transfer warning, against numpy.

World: 16-d source vectors whose pairs differ along one axis per category; the target is an exact linear map
of the source on the benign anchors (so a nearly unpenalised ridge recovers it), the pairs' target vectors get
extra noise, and one category's target vectors are unrelated noise. The reference redoes the outer and the
inner split with ``split_pairs``, estimates the inner direction by diff of means in numpy, carries it by the
exact map and counts AUROC pairs on the validation pairs. No ComfyUI.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import steering_core as sc
from steering_core.alignment.transfer_report import LOW_VAL_RATIO, val_ratio
from test_transfer_report import TableEncoder, diff_of_means, held_auroc, mapped, one_pair, synthetic_world, unit

pytestmark = pytest.mark.host_independent

SEED, TEST_FRACTION = 2, 0.3


def world(noise: float = 0.6):
    """(source table, second source table, target table, pairs, anchors, source->target map M, source->source2 map R)."""
    table, pairs, anchors = synthetic_world(seed=5, n_pairs=150, categories=("a", "b", "noise"), shift=1.0)
    rng = np.random.default_rng(21)
    m = rng.normal(size=(16, 24)) / 4.0
    r = rng.normal(size=(16, 16)) / 4.0 + np.eye(16)
    target, source2 = mapped(table, m), mapped(table, r)
    for c, ps in pairs.items():
        for p in ps:
            for x in (p.safe, p.unsafe):
                extra = rng.normal(size=24) * (3.0 if c == "noise" else noise)
                target[x] = (extra if c == "noise" else target[x] + extra).astype(np.float32)
    return table, source2, target, pairs, anchors, m, r


def splits(pairs):
    """Outer and inner split as the report documents them: split_pairs twice, then the global union."""
    train, held, inner, val = {}, {}, {}, {}
    for c, ps in pairs.items():
        train[c], held[c] = sc.split_pairs(ps, holdout=TEST_FRACTION, seed=SEED)
        inner[c], val[c] = sc.split_pairs(train[c], holdout=TEST_FRACTION, seed=SEED)
    for d in (inner, val):
        d[sc.GLOBAL] = [p for c in pairs for p in d[c]]
    return train, held, inner, val


def report(source_tables, target, pairs, anchors, **kw):
    sources = [TableEncoder(f"s{i + 1}", t) for i, t in enumerate(source_tables)]
    return sc.transfer_report(sources, TableEncoder("t", target), pairs, anchors, map_kind="ridge", lam=1e-10,
                              test_fraction=TEST_FRACTION, seed=SEED, agreement=False, **kw)


def test_val_ratio_equals_a_numpy_recomputation_on_the_inner_split() -> None:
    src, src2, tgt, pairs, anchors, m, r = world()
    rep = report([src, src2], tgt, pairs, anchors)
    _, held, inner, val = splits(pairs)
    assert all(rep.row(c).n_held_out == len(held[c]) for c in pairs)   # nothing dropped: the reference split is exact
    for row in rep.rows:
        c = row.category
        assert row.n_validation == len(val[c]) and row.n_validation < row.n_train
        # source 1: diff of means on the inner training pairs, carried by the exact map M
        s1 = diff_of_means(src, inner[c])
        # source 2 = source @ R, so its map to the target is R^-1 M: the same carried direction, another source AUROC
        s2 = diff_of_means(src2, inner[c])
        m2 = np.linalg.solve(r, m)
        tol = 3 * one_pair(len(val[c]), len(val[c]))
        for res, table, s, mm in ((row.sources[0], src, s1, m), (row.sources[1], src2, s2, m2)):
            own = held_auroc(table, val[c], s)
            expected = held_auroc(tgt, val[c], unit(s @ mm)) / own
            assert res.val_ratio == pytest.approx(expected, abs=tol / own), (c, res.source)
        print(f"{c}: val_ratio {row.sources[0].val_ratio:.3f} / {row.sources[1].val_ratio:.3f}, "
              f"transferred / source on the test pairs {row.transferred_auroc / row.source_auroc:.3f}")
    assert rep.row("a").sources[0].val_ratio != rep.row("a").sources[1].val_ratio   # per source, not shared
    noise, a = rep.row("noise").sources[0].val_ratio, rep.row("a").sources[0].val_ratio
    assert noise < 0.75 < 0.85 < a         # the category whose target is noise keeps little; a real one keeps most
    # the mean over categories (global excluded) is what the warning judges
    assert rep.mean_val_ratio(1) == pytest.approx(np.mean([rep.row(c).sources[1].val_ratio for c in pairs]), abs=1e-12)
    # shown in the markdown table (one column per source) and in the JSON rows
    lines = [ln for ln in rep.to_markdown().splitlines() if ln.startswith("| ")]
    header = [x.strip() for x in lines[0].strip("|").split("|")]
    assert header[-2:] == ["val ratio S1", "val ratio S2"]
    for line, row in zip(lines[1:], rep.rows):
        cells = [x.strip() for x in line.strip("|").split("|")]
        assert cells[-2:] == [f"{row.sources[0].val_ratio:.3f}", f"{row.sources[1].val_ratio:.3f}"]
    data = rep.as_dict()
    assert data["rows"][1]["sources"][1]["val_ratio"] == rep.rows[1].sources[1].val_ratio
    assert data["rows"][1]["n_validation"] == len(val[rep.rows[1].category])


def test_the_held_out_test_pairs_never_enter_the_validation_ratio() -> None:
    src, _, tgt, pairs, anchors, _, _ = world()
    base = report([src], tgt, pairs, anchors)
    _, held, _, val = splits(pairs)
    rng = np.random.default_rng(3)

    def scrambled(which):
        s, t = dict(src), dict(tgt)
        for c in pairs:
            for p in which[c]:
                for x in (p.safe, p.unsafe):
                    s[x], t[x] = rng.normal(size=16).astype(np.float32), rng.normal(size=24).astype(np.float32)
        return report([s], t, pairs, anchors)

    test_changed = scrambled(held)
    for before, after in zip(base.rows, test_changed.rows):
        assert after.sources[0].val_ratio == before.sources[0].val_ratio        # exactly: never read
    assert any(a.transferred_auroc != b.transferred_auroc for a, b in zip(base.rows, test_changed.rows))
    # the same change on the validation pairs does move it (so the comparison above can fail)
    val_changed = scrambled(val)
    assert any(a.sources[0].val_ratio != b.sources[0].val_ratio for a, b in zip(base.rows, val_changed.rows))


def test_poor_transfer_warns_for_a_shuffled_anchor_map_and_not_for_a_good_one() -> None:
    src, _, tgt, pairs, anchors, _, _ = world()
    good_pairs = {c: pairs[c] for c in ("a", "b")}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        good = report([src], tgt, good_pairs, anchors)
        control = report([src], tgt, good_pairs, anchors, shuffle_anchors=True)
    poor = [str(w.message) for w in caught if issubclass(w.category, sc.PoorTransferWarning)]
    print(f"good map: mean val_ratio {good.mean_val_ratio():.3f}; shuffled anchors: {control.mean_val_ratio():.3f}")
    assert good.mean_val_ratio() > 0.9 and control.mean_val_ratio() < LOW_VAL_RATIO
    assert poor == control.poor_transfer() and len(poor) == 1 and poor[0].startswith("poor transfer from s1")
    assert f"{control.mean_val_ratio():.2f}" in poor[0]
    assert good.poor_transfer() == [] and "WARNING" not in good.to_markdown() and good.as_dict()["warnings"] == []
    assert control.summary().startswith(f"**WARNING**: {poor[0]}")
    assert control.as_dict()["warnings"] == poor and control.to_markdown().startswith("**WARNING**")
    assert "val ratio:" in good.summary()


def test_validation_off_or_impossible_says_so() -> None:
    src, _, tgt, pairs, anchors, _, _ = world()
    off = report([src], tgt, {"a": pairs["a"][:20]}, anchors, validation=False)
    assert off.rows[0].sources[0].val_ratio is None and off.rows[0].n_validation == 0
    assert off.settings["validation"] is False and off.summary().endswith("val ratio: not measured (n/a).")
    assert off.to_markdown().splitlines()[-1].endswith("| n/a |")
    # two pairs: one training pair, which cannot be split again; a note says why, the ratio stays unset
    tiny = report([src], tgt, {"a": pairs["a"][:2]}, anchors)
    assert tiny.rows[0].sources[0].val_ratio is None and tiny.settings["validation"] is False
    assert any(n.startswith("validation ratio not measured") and "smaller test_fraction" in n for n in tiny.notes)
    # the ratio is undefined where the source itself does not separate the validation pairs
    assert val_ratio(0.8, 0.6) == pytest.approx(0.75) and val_ratio(0.5, 0.4) is None and val_ratio(0.3, 0.6) is None
