"""Run every benchmark, print a table and write bench/results-cpu.json or, on CUDA, bench/results-gpu.json.

Usage:
    python bench/run_all.py                       # CPU, float32, the shapes of the README table
    python bench/run_all.py --quick               # smoke run: small shapes (out/bench-quick.json)
    python bench/run_all.py --device cuda --dtypes bf16,fp16 --scale flux     # make bench-gpu

Every row is a ratio measured within one run: the compared sides interleaved, the comparison repeated
(``repeats``), the median over repeats reported with its min and max; a target is judged on the median.
``--scale flux`` runs the DiT and SAE step benchmarks at FLUX.1's own size (hidden 3072, 19 double + 38
single blocks, 4096 image + 512 text tokens; meant for a GPU); ``--dtypes`` repeats the steering, DiT and
SAE step benchmarks per dtype (ridge and training run in float32). On an accelerator (or with
``--cross-check`` on the CPU, which runs the same code against itself) the steering ops and both SAE paths
are checked against the CPU's results. ``--no-busy`` skips the steering comparison under a competing busy
process.

The DiT step benchmark (bench_dit) and the SAE Blend/Repel step (bench_sae's sae_steer_step) need the
ComfyUI host in .comfyui/ (or $SAFESTEER_COMFYUI); without it they are skipped with a note (bench_sae's
fast-vs-full and training rows still run). They run last: they import ComfyUI into this process, and
ComfyUI picks its device once per process, so run CPU and CUDA as separate invocations.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import bench_dit, bench_ridge, bench_sae, bench_steer  # noqa: E402

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}

#: per scale: ridge, steering, DiT step, SAE step and SAE memory settings
SCALES: dict[str, dict[str, Any]] = {
    "default": {"ridge": {}, "steer": {}, "dit": {}, "sae": {}, "memory": {}},
    "quick": {"ridge": {"n": 300, "dim": 512, "repeats": 2}, "steer": {"shape": (2, 512, 384), "repeats": 2, "rounds": 1},
              "dit": bench_dit.QUICK, "sae": bench_sae.QUICK, "memory": {"hidden": 256, "tokens": 512}},
    "flux": {"ridge": {}, "steer": {}, "dit": bench_dit.FLUX, "sae": bench_sae.FLUX, "memory": {}},
}


def describe(row: dict[str, Any]) -> str:
    """One printed line: ratio median (min - max), target, and the row's own figures."""
    target = row.get("target_ratio")
    if "skipped" in row:
        return f"{row['bench']:22s} {row.get('mode', ''):14s} skipped: {row['skipped']}"
    if row["bench"] == "sae_device_memory":
        return (f"{row['bench']:22s} {row['mode']:14s} fast {row['fast_resident_mb']:.2f} MB per site "
                f"({row['sites']} sites {row['fast_total_mb']:.2f} MB), full {row['full_resident_mb']:.0f} MB per site; "
                f"call peak fast {row['fast_call_peak_extra_mb']:.1f} MB above the output (target fast <= "
                f"{row['target_mb']:.0f} MB per site)  {'ok' if row['ok'] else 'OVER TARGET'}")
    spread = f"{row['ratio']:.3f} ({row['ratio_min']:.3f}-{row['ratio_max']:.3f})" if "ratio_min" in row \
        else f"{row['ratio']:.3f}"
    extra = ""
    if "peak_extra_tensors" in row:
        extra += f", peak {row['peak_tensors']:.3f} tensors ({row['peak_extra_tensors']:+.3f} vs plain add)"
    if "steered_step_s" in row:
        extra += f", step {row['steered_step_s']:.3f} s vs {row['plain_step_s']:.3f} s"
    if "gated_fraction" in row:
        extra += f", {100 * row['gated_fraction']:.1f} % of tokens gated"
    if "gate_agreement" in row:
        extra += f", fast {row['fast_s'] * 1e3:.1f} ms vs full {row['full_s'] * 1e3:.1f} ms, gates agree on " \
                 f"{100 * row['gate_agreement']:.1f} %"
    if "tokens_per_second" in row:
        extra += f", {row['tokens_per_second']:.0f} tokens/s (TopK step vs dense step)"
    load = f" [{row['load']}]" if row.get("load", "none") != "none" else ""
    dtype = f" {row['dtype']}" if row.get("dtype", "float32") != "float32" else ""
    return (f"{row['bench']:22s} {str(row.get('mode', '')) + dtype + load:14s} ratio {spread} "
            f"({'no target' if target is None else f'target <= {target}'}){extra}  {'ok' if row_ok(row) else 'OVER TARGET'}")


def row_ok(row: dict[str, Any]) -> bool:
    """A target holds on the median ratio (and the memory bounds where the row has them)."""
    if "skipped" in row:
        return True
    if row["bench"] == "sae_device_memory":
        return bool(row["ok"])
    target = row.get("target_ratio")
    return (target is None or row["ratio"] <= target) and \
        row.get("peak_extra_tensors", 0) <= row.get("target_peak_extra_tensors", 1e9)


def run(device: torch.device, dtypes: list[torch.dtype], scale: str, busy: bool = True,
        cross_check: bool = False) -> list[dict[str, Any]]:
    cfg = SCALES[scale]
    check = cross_check or device.type != "cpu"
    rows: list[dict[str, Any]] = []
    rows += bench_ridge.run(device, **cfg["ridge"])
    for dtype in dtypes:
        rows += bench_steer.run(device, dtype=dtype, busy=busy and dtype == dtypes[0], cross_check=check, **cfg["steer"])
    rows.append(bench_sae.memory_row(device, **cfg["memory"]))
    host = bench_dit.host_available()
    if host:
        for dtype in dtypes:
            rows += bench_dit.run(device, dtype=dtype, **cfg["dit"])
    else:
        print(f"dit_steer_step skipped: no ComfyUI host at {bench_dit.comfy_dir()} (run scripts/install_comfyui.sh)")
        print("sae_steer_step skipped for the same reason (sae_fast_vs_full runs on Gaussian tokens instead)")
    for i, dtype in enumerate(dtypes):
        # fast-vs-full and training (float32 throughout) once, with the first dtype's step rows
        rows += bench_sae.run(device, dtype=dtype, cross_check=check, steps_only=i > 0, **cfg["sae"])
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtypes", default="fp32", help=f"comma list of {', '.join(DTYPES)} (default fp32)")
    parser.add_argument("--scale", default="default", choices=list(SCALES))
    parser.add_argument("--quick", action="store_true", help="same as --scale quick")
    parser.add_argument("--no-busy", action="store_true", help="skip the steering comparison under a busy process")
    parser.add_argument("--cross-check", action="store_true", help="check against the CPU even on the CPU")
    parser.add_argument("--out", default=None, help="results file (default bench/results-cpu.json / results-gpu.json)")
    args = parser.parse_args()
    device = torch.device(args.device)
    scale = "quick" if args.quick else args.scale
    unknown = [d for d in args.dtypes.split(",") if d.strip() not in DTYPES]
    if unknown:
        parser.error(f"unknown dtype(s) {unknown}; choose from {', '.join(DTYPES)}")
    dtypes = [DTYPES[d.strip()] for d in args.dtypes.split(",")]
    start = time.perf_counter()
    rows = run(device, dtypes, scale, busy=not args.no_busy, cross_check=args.cross_check)
    machine = {"platform": platform.platform(), "torch": torch.__version__, "threads": torch.get_num_threads(),
               "cpu": platform.processor(), "device": str(device),
               "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor(),
               "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
               "scale": scale, "dtypes": args.dtypes, "seconds": round(time.perf_counter() - start, 1)}
    failed = False
    for row in rows:
        failed |= not row_ok(row)
        print(describe(row))
    print(f"{len(rows)} rows in {machine['seconds']} s")
    name = "gpu" if device.type == "cuda" else device.type
    default = ROOT / "out" / "bench-quick.json" if scale == "quick" else ROOT / "bench" / f"results-{name}.json"
    out = Path(args.out) if args.out else default
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": machine, "rows": rows}, indent=2) + "\n")
    print(f"wrote {out}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
