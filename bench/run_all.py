"""Run every benchmark, print a table and write bench/results-cpu.json or, on CUDA, bench/results-gpu.json
(--quick: out/bench-quick.json).

Usage: python bench/run_all.py [--device cpu|cuda] [--quick]

The DiT step benchmark (bench_dit) and the SAE Blend/Repel step (bench_sae's sae_steer_step) need the
ComfyUI host in .comfyui/ (or $SAFESTEER_COMFYUI); without it they are skipped with a note (bench_sae's
fast-vs-full and training rows still run). They run last: they import ComfyUI into this process, and
ComfyUI picks its device once per process, so run CPU and CUDA as separate invocations.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import bench_dit, bench_ridge, bench_sae, bench_steer  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--quick", action="store_true", help="smaller shapes, for a smoke run")
    parser.add_argument("--out", default=None, help="results file (default bench/results-cpu.json / results-gpu.json)")
    args = parser.parse_args()
    device = torch.device(args.device)
    rows = []
    if args.quick:
        rows += bench_ridge.run(device, n=300, dim=512)
        rows += bench_steer.run(device, shape=(2, 512, 384))
    else:
        rows += bench_ridge.run(device)
        rows += bench_steer.run(device)
        if device.type == "cuda":
            rows += bench_steer.run(device, dtype=torch.bfloat16)
    if bench_dit.host_available():
        rows += bench_dit.run(device, **(bench_dit.QUICK if args.quick else {}))
    else:
        print(f"dit_steer_step skipped: no ComfyUI host at {bench_dit.comfy_dir()} (run scripts/install_comfyui.sh)")
        print("sae_steer_step skipped for the same reason (sae_fast_vs_full runs on Gaussian tokens instead)")
    rows += bench_sae.run(device, **(bench_sae.QUICK if args.quick else {}))
    machine = {"platform": platform.platform(), "torch": torch.__version__, "threads": torch.get_num_threads(),
               "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()}
    failed = False
    for row in rows:
        target = row["target_ratio"]
        ok = (target is None or row["ratio"] <= target) and \
            row.get("peak_extra_tensors", 0) <= row.get("target_peak_extra_tensors", 1e9)
        failed |= not ok
        extra = (f", peak {row['peak_tensors']:.3f} tensors ({row['peak_extra_tensors']:+.3f} vs plain add)"
                 if "peak_extra_tensors" in row else "")
        if "steered_step_s" in row:
            extra += f", step {row['steered_step_s']:.3f} s vs {row['plain_step_s']:.3f} s"
        if "gated_fraction" in row:
            extra += f", {100 * row['gated_fraction']:.1f} % of tokens gated"
        if "gate_agreement" in row:
            extra += f", fast {row['fast_s'] * 1e3:.1f} ms vs full {row['full_s'] * 1e3:.1f} ms, gates agree on " \
                     f"{100 * row['gate_agreement']:.1f} %"
        if "tokens_per_second" in row:
            extra += f", {row['tokens_per_second']:.0f} tokens/s (TopK step vs dense step)"
        print(f"{row['bench']:22s} {row.get('mode', ''):12s} ratio {row['ratio']:.3f} "
              f"({'no target' if target is None else f'target <= {target}'}){extra}  {'ok' if ok else 'OVER TARGET'}")
    name = "gpu" if device.type == "cuda" else device.type
    default = ROOT / "out" / "bench-quick.json" if args.quick else ROOT / "bench" / f"results-{name}.json"
    out = Path(args.out) if args.out else default
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": machine, "rows": rows}, indent=2) + "\n")
    print(f"wrote {out}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
