"""The benchmark code runs (small shapes) and its memory probe measures what it should."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import bench_steer  # noqa: E402
from bench.common import peak_extra_bytes  # noqa: E402


def test_peak_probe_counts_live_allocations() -> None:
    h = torch.randn(256, 1024)
    one = h.numel() * h.element_size()
    assert abs(peak_extra_bytes(lambda: h + 1, torch.device("cpu")) - one) < 0.01 * one
    # (h + 1) * 2 holds the intermediate and the result at once: two tensors
    assert abs(peak_extra_bytes(lambda: (h + 1) * 2, torch.device("cpu")) - 2 * one) < 0.01 * one


def test_quick_benchmark_run_writes_every_row(tmp_path: Path) -> None:
    """The GPU command's code path (``--dtypes``, ``--cross-check``) at the quick scale on the CPU: every row
    per dtype, each ratio with its spread over repeats, the cross-checks against the CPU passed."""
    out = tmp_path / "bench.json"
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "run_all.py"), "--quick", "--dtypes", "fp32,bf16",
                             "--cross-check", "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert out.is_file(), result.stderr[-2000:]
    data = json.loads(out.read_text())
    rows = data["rows"]
    assert data["machine"]["dtypes"] == "fp32,bf16" and data["machine"]["date"]
    ridge = [r for r in rows if r["bench"] == "ridge_fit"]
    steer = [r for r in rows if r["bench"] == "multi_category_steer"]
    dit = [r for r in rows if r["bench"] == "dit_steer_step"]
    sae = [r for r in rows if r["bench"].startswith("sae_")]
    assert [r["mode"] for r in ridge] == ["lam=auto", "lam=0.01"] and all(r["ratio"] > 0 for r in ridge)
    assert ridge[0]["lam"] == "auto" and ridge[0]["solve"]
    threads = data["machine"]["threads"]
    fp32_loads = ("none", "busy", "saturated") if threads > 1 else ("none", "busy")
    assert [(r["mode"], r["dtype"], r["load"]) for r in steer] == [
        (m, dt, load) for dt, loads in (("float32", fp32_loads), ("bfloat16", ("none",)))
        for load in loads for m in ("add", "gated", "project_out")]
    for row in steer:
        assert row["ratio_min"] <= row["ratio"] <= row["ratio_max"] and len(row["repeat_ratios"]) == row["repeats"]
        assert row["peak_tensors"] >= 0.99  # the output tensor is always allocated
    # one spinner next to the steer ("busy"), one per torch thread ("saturated"); under load the bound is "no collapse"
    assert [r["busy_processes"] for r in steer if r["dtype"] == "float32"] == [
        {"none": 0, "busy": 1, "saturated": threads}[load] for load in fp32_loads for _ in range(3)]
    assert all(r["target_ratio"] == bench_steer.LOADED_TARGET for r in steer if r["load"] != "none")
    for row in steer:
        if row["load"] == "none":
            assert all(row["cuda_check"][k] for k in ("allclose", "untouched_bit_identical"))
    # the DiT step benchmark runs on the real ComfyUI host that `make test` installs, once per dtype
    assert sorted((r["mode"], r["dtype"]) for r in dit) == sorted(
        (m, dt) for m in ("add", "gated", "project_out") for dt in ("float32", "bfloat16"))
    assert all(r["ratio_min"] <= r["ratio"] <= r["ratio_max"] for r in dit)
    # SAE: device memory, Blend/Repel through the node (fast and full path, per dtype), fast vs full, training
    assert [(r["bench"], r.get("path"), r.get("dtype")) for r in sae] == [
        ("sae_device_memory", None, None), ("sae_steer_step", "fast", "float32"), ("sae_steer_step", "full", "float32"),
        ("sae_fast_vs_full", None, None), ("sae_train", None, None), ("sae_steer_step", "fast", "bfloat16"),
        ("sae_steer_step", "full", "bfloat16")]
    memory = sae[0]
    # fast path: the harmful slices only, (2h + 1) D + 2h + h^2 float32 values; full path: the whole SAE too
    h, d = memory["n_harmful"], memory["hidden"]
    assert memory["fast_resident_bytes"] == 4 * ((2 * h + 1) * d + 2 * h + h * h)
    assert memory["full_resident_bytes"] == memory["fast_resident_bytes"] + memory["sae_bytes"]
    for row in sae[1:3] + sae[5:]:
        assert row["ratio"] > 0 and 0 < row["gated_fraction"] < 1 and len(row["sites"]) == 4
    assert sae[3]["tokens_source"].startswith("flux block activations")
    assert all(sae[3]["cuda_check"][p]["allclose"] for p in ("fast", "full"))
    assert sae[4]["tokens_per_second"] > 0


def test_sae_bench_without_host_runs_fast_vs_full_and_training() -> None:
    """bench_sae's ComfyUI-free rows (Gaussian tokens): the gate is a minority of tokens on both paths,
    ungated tokens come back bit-identical, and training reports its throughput."""
    from bench import bench_sae
    from steering_core.sae.steering import SAESteerConfig, SAESteerer

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
