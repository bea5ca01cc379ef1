"""scripts/transfer_table.py runs end to end on a small subset, and its summary row is the mean of its records."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.host_independent

ROOT = Path(__file__).resolve().parents[1]


def run_script(*args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, str(ROOT / "scripts" / "transfer_table.py"), "--pairs", "minilm>minilm:3",
           "--maps", "procrustes", "--max-anchors", "300", "--categories", "violence,hate", *args]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_transfer_table_script_on_a_small_subset(tmp_path: Path) -> None:
    out = tmp_path / "table"
    first = run_script("--seeds", "0", "1", "--max-pairs", "10", "--out", str(out))
    assert first.stderr.count("encoded in") == 2 and "read from cache" not in first.stderr
    assert len(list((out / "cache").glob("pooled-*.safetensors"))) == 2     # one per (encoder, layer, pooling, prompts)
    records = json.loads((out / "table.json").read_text())
    # 2 runs (procrustes, its shuffled control) x 2 seeds x (global + 2 categories)
    assert len(records) == 2 * 2 * 3
    real = [r for r in records if not r["control"] and r["category"] != "global"]
    control = [r for r in records if r["control"] and r["category"] != "global"]
    assert all(0.0 <= r["transferred"] <= 1.0 and -1.0 <= r["agreement"] <= 1.0 for r in real)
    # the control learns no correspondence: its agreement sits far below the real map's (300 anchors: 384-d
    # Procrustes needs more anchors than dimensions to fit a real map; with 60 neither map learns much)
    assert np.mean([r["agreement"] for r in control]) < np.mean([r["agreement"] for r in real]) - 0.2
    md = (out / "table.md").read_text()
    row = next(ln for ln in md.splitlines() if "| procrustes |" in ln)
    per_seed = [np.mean([r["transferred"] for r in real if r["seed"] == s]) for s in (0, 1)]
    assert f"{np.mean(per_seed):.3f} ± {np.std(per_seed, ddof=1):.3f}" in row
    assert "shuffled-anchor control" in md and "Spearman correlation" in md
    # the validation-split ratio (procrustes is in --validation-for by default): transferred / source AUROC, so
    # positive; the control's map carries nothing, so its ratio sits below the real map's
    assert all(0.0 <= r["val_ratio"] <= 2.0 for r in real + control)
    assert np.mean([r["val_ratio"] for r in control]) < np.mean([r["val_ratio"] for r in real])
    assert "- val_ratio: " in md
    # the report's poor-transfer warning reaches the script's output exactly for the runs whose mean validation ratio
    # (over the categories) is below the threshold; here the real map never, a control at least once
    from steering_core.alignment.transfer_report import LOW_VAL_RATIO

    means = {(c, s): np.mean([r["val_ratio"] for r in real + control if (r["control"], r["seed"]) == (c, s)])
             for c in (False, True) for s in (0, 1)}
    for mean in means.values():
        assert (f"poor transfer from all-MiniLM-L6-v2 [mean]: validation ratio {mean:.2f} " in first.stderr) == \
            (mean < LOW_VAL_RATIO)
    assert min(means[False, 0], means[False, 1]) >= LOW_VAL_RATIO > min(means[True, 0], means[True, 1])
    # gate figures (procrustes is in --gates-for by default; never for the control): shares in [0, 1], and the gate
    # table's cells are the mean over categories, then mean ± sd over seeds, of the records ("AUROC pairs" is the
    # transferred AUROC)
    assert all(0.0 <= r[f"gate_{k}"] <= 1.0 for r in real for k in ("auc_anchors", "fpr_anchors", "fpr_safe", "recall"))
    assert not any("gate_recall" in r for r in control)
    gate_row = next(ln for ln in md.splitlines() if "| procrustes |" in ln and ln.count("|") == 8).split("|")
    for column, key in ((3, "transferred"), (7, "gate_recall")):
        values = [np.mean([r[key] for r in real if r["seed"] == s]) for s in (0, 1)]
        assert gate_row[column].strip() == f"{np.mean(values):.3f} ± {np.std(values, ddof=1):.3f}"

    # a second run into another folder reads both encoders' vectors from the first run's cache and
    # recomputes the same table, digit for digit
    again = run_script("--seeds", "0", "1", "--max-pairs", "10", "--out", str(tmp_path / "again"),
                       "--cache", str(out / "cache"))
    assert again.stderr.count("read from cache") == 2 and "encoded in" not in again.stderr
    assert (tmp_path / "again" / "table.md").read_text() == md
    assert json.loads((tmp_path / "again" / "table.json").read_text()) == records

    # another prompt list (9 pairs a category) never reuses the cached vectors of the 10-pair list
    other = run_script("--seeds", "0", "--max-pairs", "9", "--control-only", "--out", str(tmp_path / "other"),
                       "--cache", str(out / "cache"))
    assert other.stderr.count("encoded in") == 2 and "read from cache" not in other.stderr
    only_control = json.loads((tmp_path / "other" / "table.json").read_text())
    assert len(only_control) == 3 and all(r["control"] for r in only_control)   # 1 run x 1 seed x (global + 2)

    # --resume keeps the records it has and runs only the missing seed (with its control); records that lack
    # the validation ratio get it, equal to what a fresh run computes
    kept = json.loads((tmp_path / "again" / "table.json").read_text())
    (tmp_path / "again" / "table.json").write_text(json.dumps([{k: v for k, v in r.items() if k != "val_ratio"}
                                                               for r in kept]))
    resumed = run_script("--seeds", "0", "1", "2", "--max-pairs", "10", "--out", str(tmp_path / "again"),
                         "--cache", str(out / "cache"), "--resume")
    assert resumed.stderr.count("read from cache") == 2
    ran = [ln for ln in resumed.stderr.splitlines() if " seed " in ln and "validation ratio added" not in ln]
    assert len(ran) == 2 and all(" seed 2:" in ln for ln in ran)
    assert sum("validation ratio added" in ln for ln in resumed.stderr.splitlines()) == 4   # 2 seeds x (map, control)
    grown = json.loads((tmp_path / "again" / "table.json").read_text())
    assert grown[:len(records)] == records and {r["seed"] for r in grown[len(records):]} == {2}
    assert len(grown) == len(records) + 2 * 3

    # --merge writes one table from several runs' records; a later folder's record of the same run replaces
    # an earlier one (here the same numbers), so the merge of the first run and the resumed one is the latter
    run_script("--max-pairs", "10", "--merge", str(out), str(tmp_path / "again"), "--out", str(tmp_path / "merged"))
    merged = json.loads((tmp_path / "merged" / "table.json").read_text())
    assert sorted(map(json.dumps, merged)) == sorted(map(json.dumps, grown))


def numpy_spearman(a: np.ndarray, b: np.ndarray) -> float:
    ra, rb = np.argsort(np.argsort(a)).astype(float), np.argsort(np.argsort(b)).astype(float)   # no ties here
    return float(np.corrcoef(ra, rb)[0, 1])


def test_render_gives_each_diagnostics_spearman_overall_and_within_each_pair(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("transfer_table", ROOT / "scripts" / "transfer_table.py")
    tt = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "transfer_table", tt)   # its dataclasses look their module up there
    spec.loader.exec_module(tt)
    rng = np.random.default_rng(0)
    records = []
    for pair in ("a>b", "b>a"):
        for seed in range(4):
            for cat in ("x", "y", "z"):
                src, tr = 0.9 + 0.1 * rng.random(), 0.5 + 0.5 * rng.random()
                records.append({"pair": pair, "source": pair[0], "target": pair[2], "map": "ridge", "control": False,
                                "seed": seed, "category": cat, "n_held_out": 5, "native": 0.95, "transferred": tr,
                                "universal": 0.9, "source_auroc": src, "cos": rng.random(), "coverage": rng.random(),
                                "agreement": None if pair == "b>a" else rng.random(), "r2": rng.random(), "lam": 0.1,
                                "val_ratio": tr / src + 0.2 * rng.random()})
    md = tt.render(records, ["anchor"] * 3, {"x": [1] * 5, "y": [1] * 5, "z": [1] * 5})
    ratio = np.array([r["transferred"] / r["source_auroc"] for r in records])
    val = np.array([r["val_ratio"] for r in records])
    assert f"- val_ratio: {numpy_spearman(val, ratio):+.2f} (n = 24)" in md
    first = slice(0, 12)
    row = next(ln for ln in md.splitlines() if ln.startswith("| a>b |"))
    assert f"{numpy_spearman(val[first], ratio[first]):+.2f} (n = 12)" in row.split("|")[-2]
    agree = np.array([r["agreement"] for r in records[first]])
    assert f"{numpy_spearman(agree, ratio[first]):+.2f} (n = 12)" in row.split("|")[2]
    assert next(ln for ln in md.splitlines() if ln.startswith("| b>a |")).split("|")[2].strip() == "n/a"
