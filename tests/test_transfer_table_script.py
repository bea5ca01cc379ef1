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


def test_transfer_table_script_on_a_small_subset(tmp_path: Path) -> None:
    out = tmp_path / "table"
    cmd = [sys.executable, str(ROOT / "scripts" / "transfer_table.py"), "--pairs", "minilm>minilm:3",
           "--maps", "procrustes", "--seeds", "0", "1", "--max-anchors", "300", "--max-pairs", "10",
           "--categories", "violence,hate", "--out", str(out)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-3000:]
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
