"""Run every benchmark, print a table and write bench/results-<device>.json (--quick: out/bench-quick.json).

Usage: python bench/run_all.py [--device cpu|cuda] [--quick]

The DiT step benchmark (bench_dit) needs the ComfyUI host in .comfyui/ (or $SAFESTEER_COMFYUI); without
it that benchmark is skipped with a note. It runs last: it imports ComfyUI into this process.
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

from bench import bench_dit, bench_ridge, bench_steer  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--quick", action="store_true", help="smaller shapes, for a smoke run")
    parser.add_argument("--out", default=None, help="results file (default bench/results-<device>.json)")
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
        print(f"{row['bench']:22s} {row.get('mode', ''):12s} ratio {row['ratio']:.3f} "
              f"({'no target' if target is None else f'target <= {target}'}){extra}  {'ok' if ok else 'OVER TARGET'}")
    default = ROOT / "out" / "bench-quick.json" if args.quick else ROOT / "bench" / f"results-{device.type}.json"
    out = Path(args.out) if args.out else default
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": machine, "rows": rows}, indent=2) + "\n")
    print(f"wrote {out}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
