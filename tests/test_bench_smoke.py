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
    core = [r for r in rows if r["bench"] in ("ridge_fit", "multi_category_steer")]
    dit = [r for r in rows if r["bench"] == "dit_steer_step"]
    sae = [r for r in rows if r["bench"].startswith("sae_")]
    assert [r["bench"] for r in core] == ["ridge_fit"] + ["multi_category_steer"] * 3
    assert [r.get("mode") for r in core[1:]] == ["add", "gated", "project_out"]
    # the DiT step benchmark runs on the real ComfyUI host that `make test` installs
    assert dit and {r["mode"] for r in dit} >= {"add"} and all(r["ratio"] > 0 for r in dit)
    for row in core[1:]:
        assert row["ratio"] > 0 and row["peak_tensors"] >= 0.99  # the output tensor is always allocated
    # SAE Blend/Repel through the node on the same host (fast and full path), fast vs full, training
    assert [(r["bench"], r.get("path")) for r in sae] == [("sae_steer_step", "fast"), ("sae_steer_step", "full"),
                                                         ("sae_fast_vs_full", None), ("sae_train", None)]
    for row in sae[:2]:
        assert row["ratio"] > 0 and 0 < row["gated_fraction"] < 1 and len(row["sites"]) == 4
    assert sae[2]["tokens_source"].startswith("flux block activations")
    assert sae[3]["tokens_per_second"] > 0


def test_sae_bench_without_host_runs_fast_vs_full_and_training() -> None:
    """bench_sae's ComfyUI-free rows (Gaussian tokens): the gate is a minority of tokens on both paths,
    ungated tokens come back bit-identical, and training reports its throughput."""
    from bench import bench_sae
    from steering_core.sae_steering import SAESteerConfig, SAESteerer

    tiny = {"hidden": 64, "steer_tokens": 512, "steer_rounds": 2, "train_rows": 512, "train_batch": 128,
            "train_steps": 2, "train_rounds": 2, "dense_steps": 2, "threads": None}
    rows = bench_sae.run(torch.device("cpu"), host=False, **tiny)
    assert [r["bench"] for r in rows] == ["sae_fast_vs_full", "sae_train"]
    fast_full, train = rows
    assert fast_full["tokens_source"].startswith("gaussian") and fast_full["d_sae"] == 16 * 64
    assert 0.05 < fast_full["gated_fraction_full"] < 0.5 and 0.05 < fast_full["gated_fraction_fast"] < 0.5
    assert 0.5 < fast_full["gate_agreement"] <= 1
    assert fast_full["ratio"] > 0 and train["tokens_per_second"] > 0 and train["steps_total"] == 6
    x = torch.randn(512, 64, generator=torch.Generator().manual_seed(4)) * 3.0 + 1.0
    sae, features = bench_sae.site_sae(x, seed=10)
    steerer = SAESteerer(sae, features, SAESteerConfig(beta=0.5, gamma=1.0, path="fast"))
    gate = steerer.active_mask(x)
    out = steerer(x)
    assert torch.equal(out[~gate], x[~gate]) and not torch.equal(out[gate], x[gate])
    # the CUDA-vs-CPU comparison's own logic, run CPU against CPU (no GPU here): identical on both paths
    check = bench_sae._cuda_check(sae, features, x, torch.device("cpu"))
    assert all(check[p]["allclose"] and check[p]["ungated_bit_identical"] and check[p]["gate_agreement"] == 1.0
               and check[p]["max_abs_diff"] == 0.0 for p in ("fast", "full"))
