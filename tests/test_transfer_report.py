"""Transfer report (core, CLI, node): every number checked against an independent recomputation.

1. Synthetic encoders with a closed-form answer: the target is an exact linear map of the source
   (orthogonal times 2 with Procrustes; a 16 -> 24 map with a nearly unpenalised ridge), so the
   transported direction is the native one; and one category whose target activations are unrelated
   noise, so its transferred AUROC sits at chance. Directions, cosines, universal axes and AUROCs are
   recomputed in numpy (diff of means, pair-counting AUROC, SVD).
2. The real all-MiniLM-L6-v2: last layer -> layer 3, held-out scores recomputed from the raw
   transformers hidden states; the CLI once in a subprocess.
3. The node in a real ComfyUI graph: MiniLM in ComfyUI's BERT class -> a tiny Flux text encoder.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import steering_core as sc
from steering_core.encoders import EncodedPrompts
from test_nodes_graph import ANCHORS as GRAPH_ANCHORS

ROOT = Path(__file__).resolve().parents[1]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# ----------------------------------------------------------------------------- independent references
def auroc_pairs(pos: np.ndarray, neg: np.ndarray) -> float:
    """P(pos > neg) + 0.5 P(pos == neg), by counting every (pos, neg) pair."""
    pos, neg = np.asarray(pos, np.float64)[:, None], np.asarray(neg, np.float64)[None, :]
    return float((pos > neg).mean() + 0.5 * (pos == neg).mean())


def unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def one_pair(n_pos: int, n_neg: int) -> float:
    """AUROC tolerance: one (pos, neg) pair may order differently when float32 and float64 directions differ."""
    return 1.01 / (n_pos * n_neg)


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR"
    from PIL import Image

    with Image.open(path) as img:
        img.verify()
    return struct.unpack(">II", data[16:24])


def table_rows(markdown: str) -> list[list[str]]:
    lines = [ln for ln in markdown.splitlines() if ln.startswith("| ")]
    return [[c.strip() for c in ln.strip("|").split("|")] for ln in lines[1:]]


class TableEncoder:
    """A TextEncoder over a fixed prompt -> vector table (one token per prompt)."""

    layer = "table"
    fingerprint = ""

    def __init__(self, name: str, table: dict[str, np.ndarray]):
        self.name, self.table = name, table
        self.hidden_size = len(next(iter(table.values())))

    def encode(self, prompts):
        x = torch.from_numpy(np.stack([self.table[p] for p in prompts]))
        return EncodedPrompts(hidden=x[:, None, :], mask=torch.ones(len(prompts), 1, dtype=torch.bool))


def synthetic_world(seed: int = 0, dim: int = 16, n_pairs: int = 60, categories=("a", "b", "c"), n_anchors: int = 300,
                    shift: float = 0.35):
    """Source vectors: each pair shares a random context and differs by +-shift along its category's axis."""
    rng = np.random.default_rng(seed)
    table: dict[str, np.ndarray] = {}
    pairs: dict[str, list[sc.PromptPair]] = {}
    for c in categories:
        axis = unit(rng.normal(size=dim))
        pairs[c] = []
        for i in range(n_pairs):
            ctx = rng.normal(size=dim)
            s, u = f"{c} safe {i}", f"{c} unsafe {i}"
            table[s] = ctx + shift * axis + 0.3 * rng.normal(size=dim)
            table[u] = ctx - shift * axis + 0.3 * rng.normal(size=dim)
            pairs[c].append(sc.PromptPair(s, u))
    anchors = [f"anchor {i}" for i in range(n_anchors)]
    for a in anchors:
        table[a] = rng.normal(size=dim)
    return {k: v.astype(np.float32) for k, v in table.items()}, pairs, anchors


def mapped(table: dict[str, np.ndarray], m: np.ndarray) -> dict[str, np.ndarray]:
    return {k: (v.astype(np.float64) @ m).astype(np.float32) for k, v in table.items()}


def reference_split(pairs, test_fraction=0.3, seed=0):
    train, held = {}, {}
    for c, p in pairs.items():
        train[c], held[c] = sc.split_pairs(p, holdout=test_fraction, seed=seed)
    if len(pairs) > 1:
        train = {sc.GLOBAL: [p for c in pairs for p in train[c]], **train}
        held = {sc.GLOBAL: [p for c in pairs for p in held[c]], **held}
    return train, held


def diff_of_means(table, pairs) -> np.ndarray:
    safe = np.stack([table[p.safe] for p in pairs]).astype(np.float64)
    unsafe = np.stack([table[p.unsafe] for p in pairs]).astype(np.float64)
    return safe.mean(0) - unsafe.mean(0)


def held_auroc(table, pairs, direction: np.ndarray) -> float:
    v = unit(direction)
    return auroc_pairs(np.stack([table[p.safe] for p in pairs]) @ v, np.stack([table[p.unsafe] for p in pairs]) @ v)


def universal_reference(rows: list[np.ndarray]) -> np.ndarray:
    """Top right-singular vector of the stacked unit rows, sign of the majority (ties: sum of cosines)."""
    m = np.stack([unit(r) for r in rows])
    axis = np.linalg.svd(m)[2][0]
    cos = m @ axis
    agree = int((cos > 0).sum())
    if 2 * agree < len(rows) or (2 * agree == len(rows) and cos.sum() < 0):
        axis = -axis
    return axis


def check_split(report, pairs):
    train, held = reference_split(pairs, report.settings["test_fraction"], report.settings["seed"])
    for c in pairs:
        assert report.split[c]["train"] == [[p.safe, p.unsafe] for p in train[c]]
        assert report.split[c]["held_out"] == [[p.safe, p.unsafe] for p in held[c]]
    train_prompts = {x for c in pairs for p in train[c] for x in (p.safe, p.unsafe)}
    held_prompts = {x for c in pairs for p in held[c] for x in (p.safe, p.unsafe)}
    assert train_prompts and held_prompts and not train_prompts & held_prompts
    return train, held


# ----------------------------------------------------------------------------- 1. closed form
def test_exact_orthogonal_map_transfers_the_native_direction(tmp_path: Path) -> None:
    table, pairs, anchors = synthetic_world(seed=1)
    q = np.linalg.qr(np.random.default_rng(7).normal(size=(16, 16)))[0]
    target_table = mapped(table, 2.0 * q)
    report = sc.transfer_report(TableEncoder("src", table), TableEncoder("tgt", target_table), pairs, anchors,
                                map_kind="procrustes", test_fraction=0.3, seed=0)
    train, held = check_split(report, pairs)
    assert report.categories == (sc.GLOBAL, "a", "b", "c")
    for row in report.rows:
        c = row.category
        src_dir = diff_of_means(table, train[c])
        native = diff_of_means(target_table, train[c])
        np.testing.assert_allclose(native, src_dir @ (2.0 * q), atol=1e-5)          # the map carries the direction
        moved = report.directions[f"transferred:{report.sources[0]}"]
        np.testing.assert_allclose(moved.vectors[moved.index(c)].numpy(), unit(src_dir @ q), atol=1e-5)
        assert row.cosine == pytest.approx(1.0, abs=1e-5)
        tol = one_pair(len(held[c]), len(held[c]))
        expected = held_auroc(target_table, held[c], native)
        assert row.native_auroc == pytest.approx(expected, abs=tol)
        assert row.source_auroc == pytest.approx(held_auroc(table, held[c], src_dir), abs=tol)
        for value in (row.transferred_auroc, row.universal_auroc, row.source_auroc):
            assert value == pytest.approx(expected, abs=tol)
        assert (row.n_train, row.n_held_out) == (len(train[c]), len(held[c]))
        assert 0.55 < expected < 0.95  # the synthetic task is neither trivial nor hopeless
    assert report.maps[0]["kind"] == "procrustes" and report.maps[0]["held_out_r2"] == pytest.approx(1.0, abs=1e-6)


def test_linear_map_and_a_noise_category_against_numpy(tmp_path: Path) -> None:
    """Target = source @ M (16 -> 24) except category c, whose target prompts are unrelated noise."""
    table, pairs, anchors = synthetic_world(seed=2, n_pairs=200)
    rng = np.random.default_rng(11)
    m = rng.normal(size=(16, 24)) / 4.0
    target_table = mapped(table, m)
    for p in pairs["c"]:
        target_table[p.safe] = rng.normal(size=24).astype(np.float32)
        target_table[p.unsafe] = rng.normal(size=24).astype(np.float32)
    report = sc.transfer_report(TableEncoder("src", table), TableEncoder("tgt", target_table), pairs, anchors,
                                map_kind="ridge", lam=1e-10, test_fraction=0.3, seed=3)
    train, held = check_split(report, pairs)
    label = report.sources[0]
    for row in report.rows:
        c = row.category
        src_dir = diff_of_means(table, train[c])
        native = diff_of_means(target_table, train[c])
        transported = unit(src_dir @ m)            # the exact map, not the fitted one
        universal = universal_reference([native, transported])
        # two inputs: the top singular axis is the bisector unit(n + sign(n.t) t)
        np.testing.assert_allclose(universal, unit(unit(native) + np.sign(native @ transported) * transported), atol=1e-9)
        got = report.directions["universal"].vectors[report.directions["universal"].index(c)].numpy().astype(np.float64)
        if native @ transported < 0:
            # inputs that disagree give a majority tie (one for, one against) whose sign-breaking sum of
            # cosines is exactly 0: the axis is defined only up to sign, so compare it that way
            universal = universal * np.sign(universal @ got)
        for name, vec in (("native", native), (f"transferred:{label}", transported), ("universal", universal)):
            d = report.directions[name]
            assert float(unit(vec) @ d.vectors[d.index(c)].numpy().astype(np.float64)) == pytest.approx(1.0, abs=1e-5), (c, name)
        tol = one_pair(len(held[c]), len(held[c]))
        assert row.native_auroc == pytest.approx(held_auroc(target_table, held[c], native), abs=tol)
        assert row.transferred_auroc == pytest.approx(held_auroc(target_table, held[c], transported), abs=tol)
        assert row.universal_auroc == pytest.approx(held_auroc(target_table, held[c], universal), abs=tol)
        assert row.source_auroc == pytest.approx(held_auroc(table, held[c], src_dir), abs=tol)
        assert row.cosine == pytest.approx(float(unit(native) @ transported), abs=1e-5)
        # the scores every AUROC came from are the projections of the held-out prompts
        safe_scores = report.scores[f"transferred:{label}"][c]["safe"]
        np.testing.assert_allclose(safe_scores, np.stack([target_table[p.safe] for p in held[c]]) @ transported, atol=1e-4)
    a, b, noise = report.row("a"), report.row("b"), report.row("c")
    for row in (a, b):
        assert row.cosine == pytest.approx(1.0, abs=1e-6)
        assert row.transferred_auroc == pytest.approx(row.native_auroc, abs=one_pair(row.n_held_out, row.n_held_out))
    assert noise.source_auroc > 0.6                            # separable in the source ...
    assert abs(noise.transferred_auroc - 0.5) < 0.15           # ... at chance after transfer into noise
    assert abs(noise.cosine) < 0.6


def test_safe_prompts_as_anchors_give_the_map_the_directions_it_lacked() -> None:
    """Anchors that span everything but the category axes: the map cannot learn the map along them, so the
    transported direction misses; the training pairs' safe prompts (benign, on those axes) complete the span
    and the fitted map becomes the exact one, so the transported direction is unit(v_s M)."""
    table, pairs, anchors = synthetic_world(seed=4, n_pairs=80)
    rng = np.random.default_rng(5)
    axes = np.stack([unit(diff_of_means(table, pairs[c])) for c in pairs])            # [3, 16]
    q = np.linalg.qr(axes.T)[0]                                                         # their span, orthonormal
    for a in anchors:                                                                   # anchors: none of it
        table[a] = (table[a] - q @ (q.T @ table[a])).astype(np.float32)
    m = rng.normal(size=(16, 16)) / 4.0
    target_table = mapped(table, m)
    label_runs = {}
    for flag in (False, True):
        report = sc.transfer_report(TableEncoder("src", table), TableEncoder("tgt", target_table), pairs, anchors,
                                    map_kind="ridge", lam=1e-10, test_fraction=0.3, seed=0, agreement=False,
                                    safe_prompts_as_anchors=flag)
        label_runs[flag] = report
    train, held = check_split(label_runs[True], pairs)
    held_prompts = {x for c in pairs for p in held[c] for x in (p.safe, p.unsafe)}
    added = {p.safe for c in pairs for p in train[c]} - held_prompts
    assert label_runs[False].settings["n_anchors"] == len(anchors)
    assert label_runs[True].settings["n_anchors"] == len(anchors) + len(added)
    assert label_runs[True].settings["safe_prompts_as_anchors"] is True
    assert any("safe prompts of the training pairs" in n for n in label_runs[True].notes)
    for c in pairs:
        exact = unit(diff_of_means(table, train[c]) @ m)
        for flag, report in label_runs.items():
            moved = report.directions[f"transferred:{report.sources[0]}"]
            got = moved.vectors[moved.index(c)].numpy().astype(np.float64)
            if flag:
                np.testing.assert_allclose(got, exact, atol=1e-4)
            else:
                assert abs(got @ exact) < 0.9          # the axis part of the direction was not carried
        row_on, row_off = label_runs[True].row(c), label_runs[False].row(c)
        assert row_on.transferred_auroc > row_off.transferred_auroc


def test_several_sources_markdown_json_png_and_determinism(tmp_path: Path) -> None:
    table, pairs, anchors = synthetic_world(seed=3, n_pairs=40, categories=("a", "b"))
    rng = np.random.default_rng(5)
    target_table = mapped(table, rng.normal(size=(16, 20)))
    other_source = mapped(table, rng.normal(size=(16, 12)))   # a lower-rank view of the same prompts
    sources = [TableEncoder("s1", table), TableEncoder("s2", other_source)]
    run = lambda: sc.transfer_report(sources, TableEncoder("t", target_table), pairs, anchors, seed=4)
    report = run()
    assert report.sources == ("s1", "s2") and report.target == "t"
    train, held = check_split(report, pairs)
    for row in report.rows:
        c = row.category
        native = report.directions["native"].vectors[report.directions["native"].index(c)].numpy().astype(np.float64)
        moved = [report.directions[f"transferred:{s}"] for s in report.sources]
        axis = universal_reference([native] + [m.vectors[m.index(c)].numpy().astype(np.float64) for m in moved])
        d = report.directions["universal"]
        np.testing.assert_allclose(d.vectors[d.index(c)].numpy(), axis, atol=1e-5)
        for s, m, res in zip(report.sources, moved, row.sources):
            assert res.source == s
            assert res.cosine == pytest.approx(float(native @ m.vectors[m.index(c)].numpy()), abs=1e-5)
            scores = report.scores[f"transferred:{s}"][c]
            assert res.transferred_auroc == pytest.approx(auroc_pairs(scores["safe"], scores["unsafe"]), abs=1e-12)
        scores = report.scores["universal"][c]
        assert row.universal_auroc == pytest.approx(auroc_pairs(scores["safe"], scores["unsafe"]), abs=1e-12)
    # each source's fitted map comes with the report, and it is the map behind the transferred direction
    for s in report.sources:
        alignment = report.alignments[s]
        assert (alignment.source_model, alignment.target_model) == (s, "t")
        again = alignment.transport(report.directions[f"source:{s}"], calibrate=False, agreement=False)
        torch.testing.assert_close(again.vectors, report.directions[f"transferred:{s}"].vectors, rtol=0, atol=1e-6)
    # markdown: one row per category, the printed values are the report's, rounded
    md = report.to_markdown()
    rows = table_rows(md)
    assert [r[0] for r in rows] == [sc.GLOBAL, "a", "b"]
    header = [c.strip() for c in next(ln for ln in md.splitlines() if ln.startswith("| ")).strip("|").split("|")]
    assert header[:6] == ["category", "pairs train / held-out", "source S1 (own space)", "source S2 (own space)", "native",
                          "transferred S1"]
    for cells, row in zip(rows, report.rows):
        values = dict(zip(header, cells))
        assert float(values["native"]) == pytest.approx(row.native_auroc, abs=5e-4)
        assert float(values["transferred S2"]) == pytest.approx(row.sources[1].transferred_auroc, abs=5e-4)
        assert float(values["cos S1"]) == pytest.approx(row.sources[0].cosine, abs=5e-4)
        assert values["pairs train / held-out"] == f"{len(train[row.category])} / {len(held[row.category])}"
    # files
    paths = report.save(tmp_path / "out")
    assert png_size(paths["png"]) == report.plot_size() and report.plot().shape == (*report.plot_size()[::-1], 3)
    data = json.loads(paths["json"].read_text())
    assert data["rows"][0]["sources"][1]["transferred_auroc"] == report.rows[0].sources[1].transferred_auroc
    assert paths["md"].read_text().strip() == md
    # deterministic: the same inputs give the same report, byte for byte
    assert run().to_json() == report.to_json()


def test_bad_inputs_are_clear_errors() -> None:
    table, pairs, anchors = synthetic_world(seed=4, n_pairs=6, categories=("a",))
    enc = TableEncoder("s", table)
    with pytest.raises(sc.SafeSteerError, match="test_fraction"):
        sc.transfer_report(enc, enc, pairs, anchors, test_fraction=1.0)
    with pytest.raises(sc.PromptDataError, match="at least 2"):
        sc.transfer_report(enc, enc, {"a": pairs["a"][:1]}, anchors)
    with pytest.raises(sc.SafeSteerError, match="map kind"):
        sc.transfer_report(enc, enc, pairs, anchors, map_kind="cubic")
    single = sc.transfer_report(enc, enc, pairs, anchors)        # one category: no global row
    assert single.categories == ("a",) and single.target != single.sources[0]


# ----------------------------------------------------------------------------- 2. real all-MiniLM-L6-v2
def raw_pooled(encoder, prompts: list[str], layer: int) -> np.ndarray:
    """Masked mean of ``hidden_states[layer]`` straight from transformers, one prompt at a time (no padding)."""
    rows = []
    with torch.no_grad():
        for p in prompts:
            tokens = encoder.tokenizer(p, return_tensors="pt")
            hidden = encoder.model(**tokens, output_hidden_states=True).hidden_states[layer][0]
            rows.append(hidden.double().mean(0).numpy())
    return np.stack(rows)


@pytest.fixture(scope="module")
def minilm_report(minilm, tmp_path_factory):
    pairs = {c: p[:30] for c, p in sc.all_category_pairs().items()}
    anchors = sc.anchor_prompts()[:240]
    target = minilm.at_layer(3, name="all-MiniLM-L6-v2@layer3")
    report = sc.transfer_report(minilm, target, pairs, anchors, map_kind="ridge", test_fraction=0.3, seed=0)
    paths = report.save(tmp_path_factory.mktemp("transfer-minilm"))
    print("\n" + report.to_markdown())
    return report, pairs, paths


def test_minilm_last_layer_to_layer3(minilm, minilm_report) -> None:
    report, pairs, paths = minilm_report
    train, held = check_split(report, pairs)
    assert report.categories == (sc.GLOBAL, *sc.CATEGORIES)
    assert report.sources == ("all-MiniLM-L6-v2",) and report.target == "all-MiniLM-L6-v2@layer3"
    label = report.sources[0]
    for row in report.rows:
        c = row.category
        # every AUROC from the returned held-out scores, by pair counting
        for name, value in (("native", row.native_auroc), (f"transferred:{label}", row.transferred_auroc),
                            ("universal", row.universal_auroc), (f"source:{label}", row.source_auroc)):
            s = report.scores[name][c]
            assert len(s["safe"]) == len(s["unsafe"]) == len(held[c]) == row.n_held_out
            assert value == pytest.approx(auroc_pairs(s["safe"], s["unsafe"]), abs=1e-12), (c, name)
        assert -1.0 <= row.cosine <= 1.0
        native = report.directions["native"]
        moved = report.directions[f"transferred:{label}"]
        assert row.cosine == pytest.approx(float(native.vectors[native.index(c)] @ moved.vectors[moved.index(c)]), abs=1e-5)
    # the projections, recomputed from transformers' own hidden states of the held-out prompts
    native_dir = report.directions["native"]
    for c in ("violence", sc.GLOBAL):
        safe = raw_pooled(minilm, [p.safe for p in held[c]], 3)
        unsafe = raw_pooled(minilm, [p.unsafe for p in held[c]], 3)
        native_ref = (raw_pooled(minilm, [p.safe for p in train[c]], 3).mean(0)
                      - raw_pooled(minilm, [p.unsafe for p in train[c]], 3).mean(0))
        v = native_dir.vectors[native_dir.index(c)].double().numpy()
        assert float(unit(native_ref) @ v) == pytest.approx(1.0, abs=1e-5)
        np.testing.assert_allclose(report.scores["native"][c]["safe"], safe @ v, atol=1e-4)
        assert report.row(c).native_auroc == pytest.approx(auroc_pairs(safe @ unit(native_ref), unsafe @ unit(native_ref)),
                                                         abs=one_pair(len(safe), len(unsafe)))
        moved = report.directions[f"transferred:{label}"]
        w = moved.vectors[moved.index(c)].double().numpy()
        assert report.row(c).transferred_auroc == pytest.approx(auroc_pairs(safe @ w, unsafe @ w),
                                                              abs=one_pair(len(safe), len(unsafe)))
    # the validation ratio is measured on every row, from the training pairs alone (21 per category: 15 / 6)
    for row in report.rows:
        assert row.n_validation == (36 if row.category == sc.GLOBAL else 6) and 0.0 <= row.sources[0].val_ratio <= 2.0
    # a real signal survives the transfer (loose: 30 pairs per category, 240 anchors)
    assert np.mean([r.native_auroc for r in report.rows]) >= 0.75
    assert np.mean([r.transferred_auroc for r in report.rows]) >= 0.7
    assert np.mean([r.source_auroc for r in report.rows]) >= 0.8
    assert png_size(paths["png"]) == report.plot_size()
    assert len(table_rows(paths["md"].read_text())) == len(sc.CATEGORIES) + 1


def test_cli_on_minilm_layers_matches_the_library(minilm, tmp_path: Path) -> None:
    out = tmp_path / "cli"
    cmd = [sys.executable, "-m", "steering_core.transfer_cli", "--source", "minilm:6", "--target", "minilm:3",
           "--pairs", "violence,hate", "--max-pairs", "12", "--max-anchors", "100", "--out", str(out),
           "--cache", str(tmp_path / "cache")]
    result = subprocess.run(cmd, check=False, cwd=ROOT, capture_output=True, text=True, timeout=300,
                            env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr[-3000:]
    data = json.loads((out / "report.json").read_text())
    assert data["sources"] == ["all-MiniLM-L6-v2@layer6"] and data["target"] == "all-MiniLM-L6-v2@layer3"
    assert [r["category"] for r in data["rows"]] == [sc.GLOBAL, "violence", "hate"]
    assert png_size(out / "report.png")
    assert len(list((tmp_path / "cache").glob("pooled-*.safetensors"))) == 2   # layer 6 and layer 3, kept for a rerun
    md = (out / "report.md").read_text()
    assert "| violence |" in result.stdout and md.strip() == result.stdout.strip()
    # the same computation in this process (layer 6 = the last layer) gives the same numbers
    pairs = {c: sc.category_pairs(c)[:12] for c in ("violence", "hate")}
    same = sc.transfer_report(minilm.at_layer(6, name="all-MiniLM-L6-v2@layer6"),
                              minilm.at_layer(3, name="all-MiniLM-L6-v2@layer3"), pairs,
                              sc.sample_prompts(sc.anchor_prompts(), 100, seed=0))  # the CLI's --max-anchors draw
    for mine, theirs in zip(same.as_dict()["rows"], data["rows"]):
        assert mine["category"] == theirs["category"]
        for key in ("native_auroc", "universal_auroc"):
            assert mine[key] == pytest.approx(theirs[key], abs=1e-9)
        assert mine["sources"][0]["transferred_auroc"] == pytest.approx(theirs["sources"][0]["transferred_auroc"], abs=1e-9)
        assert mine["sources"][0]["cosine"] == pytest.approx(theirs["sources"][0]["cosine"], abs=1e-5)
    bad = subprocess.run([sys.executable, "-m", "steering_core.transfer_cli", "--source", "nosuchmodel:2", "--target",
                          "minilm", "--out", str(out)], check=False, cwd=ROOT, capture_output=True, text=True, timeout=120,
                         env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)})
    assert bad.returncode == 2 and "neither one of minilm, smollm2, e5 nor a model folder" in bad.stderr


# ----------------------------------------------------------------------------- 3. the node in a real graph
ANCHORS = GRAPH_ANCHORS.splitlines()[:24]  # the node-graph tests' benign anchors, first 24


def report_graph(pairs_per_category: int, anchors: list[str]) -> dict:
    """API prompt: MiniLM (ComfyUI's BERT class) -> tiny Flux text encoder into the Transfer Report node (ridge,
    lam 0.01, mean pooling, seed 0), its table and JSON shown by PreviewAny (``show_table``, ``show_json``)."""
    return {
        "source": {"class_type": "SafeSteerTinyTextEncoder", "inputs": {"kind": "minilm", "seed": 0}},
        "target": {"class_type": "SafeSteerTinyTextEncoder", "inputs": {"kind": "flux", "seed": 0}},
        "report": {"class_type": "SafeSteerTransferReport", "inputs": {
            "source_clip": ["source", 0], "target_clip": ["target", 0], "prompt_set": "all categories",
            "map_kind": "ridge", "test_fraction": 0.3, "seed": 0, "pooling": "mean", "lam": 0.01,
            "pairs_per_category": pairs_per_category, "anchors": "\n".join(anchors)}},
        "show_table": {"class_type": "PreviewAny", "inputs": {"source": ["report", 0]}},
        "show_json": {"class_type": "PreviewAny", "inputs": {"source": ["report", 2]}},
    }


def test_node_in_a_comfy_graph_minilm_to_tiny_flux(comfy) -> None:
    graph = {**report_graph(pairs_per_category=4, anchors=ANCHORS),
             "show_plot": {"class_type": "PreviewImage", "inputs": {"images": ["report", 1]}}}
    result = comfy.run(graph).raise_for_error()
    table = result.ui("show_table")["text"][0]
    print("\n" + table)
    data = json.loads(result.ui("show_json")["text"][0])
    rows = table_rows(table)
    assert [r[0] for r in rows] == [sc.GLOBAL, *sc.CATEGORIES]
    assert all(r[1] == "3 / 1" for r in rows[1:]) and rows[0][1] == "18 / 6"
    assert [r["category"] for r in data["rows"]] == [r[0] for r in rows]
    for r in data["rows"]:
        for key in ("native_auroc", "universal_auroc"):
            assert 0.0 <= r[key] <= 1.0
        assert -1.0 <= r["sources"][0]["cosine"] <= 1.0
        s = data["held_out_scores"]["native"][r["category"]]
        assert r["native_auroc"] == pytest.approx(auroc_pairs(s["safe"], s["unsafe"]), abs=1e-12)
    assert data["settings"]["n_anchors"] == len(ANCHORS) and data["maps"][0]["target_dim"] == 64
    assert data["maps"][0]["source_dim"] == 384
    # the IMAGE output: a PNG of the report's plot size, as PreviewImage saved it
    import folder_paths
    from PIL import Image

    image = result.ui("show_plot")["images"][0]
    path = Path(folder_paths.get_temp_directory()) / image["subfolder"] / image["filename"]
    with Image.open(path) as img:
        width, height = img.size
        assert img.mode == "RGB"
    assert (width, height) == (max(820, 260 + 110 * len(rows)), 420)


def test_node_text_shows_the_validation_ratio_and_warns_on_poor_transfer(comfy) -> None:
    """Sixteen anchors (the node's least) carry little of a 384-d source direction into the tiny Flux encoder: the
    node's text, as PreviewAny shows it, must open with the core's poor-transfer warning and show each category's
    validation ratio as its JSON holds them. Same encoder nodes as the graph test above (cached by the host)."""
    from steering_core.alignment.transfer_report import LOW_VAL_RATIO

    graph = report_graph(pairs_per_category=10, anchors=ANCHORS[:16])
    result = comfy.run(graph).raise_for_error()
    table = result.ui("show_table")["text"][0]
    print("\n" + table)
    data = json.loads(result.ui("show_json")["text"][0])
    ratios = [r["sources"][0]["val_ratio"] for r in data["rows"] if r["category"] != sc.GLOBAL]
    mean = np.mean([v for v in ratios if v is not None])
    assert mean < LOW_VAL_RATIO and len(data["warnings"]) == 1
    assert f"validation ratio {mean:.2f}" in data["warnings"][0]
    assert table.startswith(f"**WARNING**: {data['warnings'][0]}\n\n")
    for cells, row in zip(table_rows(table), data["rows"]):
        assert cells[0] == row["category"]
        assert cells[-1] == ("n/a" if row["sources"][0]["val_ratio"] is None else f"{row['sources'][0]['val_ratio']:.3f}")
        assert row["n_validation"] == (12 if row["category"] == sc.GLOBAL else 2)   # 7 training pairs: 5 / 2
