"""The benchmark code runs (small shapes) and its memory probe measures what it should."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import peak_extra_bytes  # noqa: E402


def test_peak_probe_counts_live_allocations() -> None:
    h = torch.randn(256, 1024)
    one = h.numel() * h.element_size()
    assert abs(peak_extra_bytes(lambda: h + 1, torch.device("cpu")) - one) < 0.01 * one
    # (h + 1) * 2 holds the intermediate and the result at once: two tensors
    assert abs(peak_extra_bytes(lambda: (h + 1) * 2, torch.device("cpu")) - 2 * one) < 0.01 * one


def test_quick_benchmark_run_writes_every_row(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "run_all.py"), "--quick", "--out", str(out)],
                            cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.is_file(), result.stderr[-2000:]
    rows = json.loads(out.read_text())["rows"]
    core = [r for r in rows if r["bench"] != "dit_steer_step"]
    dit = [r for r in rows if r["bench"] == "dit_steer_step"]
    assert [r["bench"] for r in core] == ["ridge_fit"] + ["multi_category_steer"] * 3
    assert [r.get("mode") for r in core[1:]] == ["add", "gated", "project_out"]
    # the DiT step benchmark runs on the real ComfyUI host that `make test` installs
    assert dit and {r["mode"] for r in dit} >= {"add"} and all(r["ratio"] > 0 for r in dit)
    for row in core[1:]:
        assert row["ratio"] > 0 and row["peak_tensors"] >= 0.99  # the output tensor is always allocated
