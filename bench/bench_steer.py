"""Multi-category steering (K=6) on a FLUX 1024x1024 step's activations against one plain add.

Tensor ``[2, 4608, 3072]`` (batch 2 = cond + uncond, 4608 tokens = 4096 image + 512 text, hidden
3072). Reference: ``h + bias`` with a ``[3072]`` bias, the cheapest elementwise op that reads the
activation once and writes a new one. Every mode is timed against it interleaved (``common.compare``:
``repeats`` ratios, each the median over ``rounds`` rounds; the targets in ``TARGETS``), then under load:
next to a competing busy process (``busy``: one spinning Python subprocess) and on a saturated CPU
(``saturated``: one spinner per thread torch uses). Under load a mode must not collapse: within
``LOADED_TARGET`` plain adds, which are slowed alike (every parallel region's barrier waits for a
descheduled thread, and a chunked op runs a few regions per chunk; the earlier 1 MiB chunks measured 35x). Memory is reported in units of one activation tensor: ``peak_tensors`` is the steer's whole peak
(its output counts as one), ``peak_extra_tensors`` that peak minus the plain add's (which also allocates
one output); the target bounds the latter by one tensor.

On an accelerator (or when asked, on the CPU itself) the output is also compared with the CPU's (``cuda_check``, float32 with TF32 off,
on the first 512 tokens of each row): within 1e-4, the same tokens touched, untouched tokens
bit-identical.
"""

from __future__ import annotations

from typing import Any

import torch

import steering_core as sc

from .common import busy_neighbour, compare, peak_extra_bytes

SHAPE = (2, 4608, 3072)
K = 6
STRENGTH = [1.0, 0.5, 2.0, 1.5, 0.8, 1.2]
MODES = ("add", "gated", "project_out")
TARGETS = {"add": 1.1, "gated": 1.5, "project_out": 1.5}
#: under load (busy or saturated) a mode must not collapse: within this many plain adds (slowed alike)
LOADED_TARGET = 3.0
CHECK_TOKENS = 512
TOL = 1e-4


def _direction(hidden: torch.Tensor, gen: torch.Generator) -> sc.SafetyDirection:
    """K random unit directions with thresholds and centres at the median score: about half the tokens gated."""
    raw = torch.randn(K, hidden.shape[-1], generator=gen, dtype=torch.float64)
    direction = sc.SafetyDirection.from_vectors(raw, [f"c{i}" for i in range(K)])
    scores = hidden[0, :512].to(torch.float32) @ direction.vectors.to(hidden.device).T
    median_scores = scores.median(dim=0).values.cpu()
    return sc.SafetyDirection(vectors=direction.vectors, categories=direction.categories, scale=direction.scale,
                              thresholds=median_scores, centres=median_scores)


def cuda_check(ops: dict[str, sc.SteeringOp], hidden: torch.Tensor) -> dict[str, Any]:
    """Each op on ``hidden``'s device vs on the CPU (float32, TF32 off, first CHECK_TOKENS tokens of each row)."""
    x_dev = hidden[:, :CHECK_TOKENS].to(torch.float32).contiguous()
    x_cpu = x_dev.cpu()
    saved = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        result: dict[str, Any] = {"tolerance": TOL, "tokens": int(x_cpu.shape[0] * x_cpu.shape[1])}
        for mode, op in ops.items():
            out_dev, out_cpu = op(x_dev).cpu(), op(x_cpu)
            touched_dev, touched_cpu = (out_dev != x_cpu).any(-1), (out_cpu != x_cpu).any(-1)
            same = touched_dev == touched_cpu
            check = {"max_abs_diff": float((out_dev - out_cpu).abs().max()),
                     "touched_agreement": float(same.float().mean()),
                     "allclose": bool(torch.allclose(out_dev[same], out_cpu[same], atol=TOL, rtol=TOL)),
                     "untouched_bit_identical": bool(torch.equal(out_dev[~touched_dev].signbit(), x_cpu[~touched_dev].signbit())
                                                     and torch.equal(out_dev[~touched_dev], x_cpu[~touched_dev]))}
            result[mode] = check
            if not (check["allclose"] and check["untouched_bit_identical"] and check["touched_agreement"] >= 0.999):
                raise RuntimeError(f"{hidden.device} and CPU disagree on steering mode {mode}: {check}")
        return result
    finally:
        torch.backends.cuda.matmul.allow_tf32 = saved


def run(device: torch.device, dtype: torch.dtype = torch.float32, shape: tuple[int, ...] = SHAPE, repeats: int = 5,
        rounds: int = 3, busy: bool = True, cross_check: bool | None = None) -> list[dict[str, object]]:
    """Rows per mode (and per load); ``cross_check`` (default: on accelerators) compares with the CPU."""
    gen = torch.Generator().manual_seed(0)
    hidden = torch.randn(*shape, generator=gen).to(device, dtype)
    direction = _direction(hidden, gen)
    bias = torch.randn(shape[-1], generator=gen).to(device, dtype)
    tensor_bytes = hidden.numel() * hidden.element_size()
    ops = {mode: sc.SteeringOp(direction, sc.SteeringConfig(mode=mode, strength=STRENGTH)) for mode in MODES}
    fns = {"plain": lambda: hidden + bias, **{mode: (lambda op=op: op(hidden)) for mode, op in ops.items()}}
    loads = [("none", 0)]
    if busy and device.type == "cpu":
        loads.append(("busy", 1))
        if torch.get_num_threads() > 1:
            loads.append(("saturated", torch.get_num_threads()))
    add_peak = peak_extra_bytes(lambda: hidden + bias, device)
    peaks = {mode: peak_extra_bytes(lambda op=op: op(hidden), device) for mode, op in ops.items()}
    gated_fraction = float((ops["gated"](hidden) != hidden).any(-1).float().mean())
    check = cuda_check(ops, hidden) if (device.type != "cpu" if cross_check is None else cross_check) else None
    rows = []
    for load, spinners in loads:
        if spinners:
            with busy_neighbour(spinners):
                stats = compare(fns, "plain", device, repeats=repeats, rounds=rounds)
        else:
            stats = compare(fns, "plain", device, repeats=repeats, rounds=rounds)
        for mode in MODES:
            row = {
                "bench": "multi_category_steer", "mode": mode, "load": load, "busy_processes": spinners,
                "shape": list(shape), "dtype": str(dtype).replace("torch.", ""), "device": str(device),
                "threads": torch.get_num_threads(), **stats[mode], "steer_s": stats[mode]["seconds"],
                "plain_add_s": stats[mode]["reference_seconds"],
                "peak_tensors": peaks[mode] / tensor_bytes, "peak_extra_tensors": (peaks[mode] - add_peak) / tensor_bytes,
                "target_ratio": TARGETS[mode] if load == "none" else max(TARGETS[mode], LOADED_TARGET),
                "target_peak_extra_tensors": 1.0,
            }
            if mode == "gated":
                row["gated_fraction"] = gated_fraction
            if check is not None and load == "none":
                row["cuda_check"] = check[mode]
            rows.append(row)
    return rows
