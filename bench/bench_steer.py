"""Multi-category steering (K=6) on a FLUX 1024x1024 step's activations against one plain add.

Tensor ``[2, 4608, 3072]`` (batch 2 = cond + uncond, 4608 tokens = 4096 image + 512 text, hidden
3072). Reference: ``h + bias`` with a ``[3072]`` bias, the cheapest elementwise op that writes a
new activation tensor. Memory is reported in units of one activation tensor: ``peak_tensors`` is
the steer's whole peak (its output counts as one), ``peak_extra_tensors`` that peak minus the
plain add's (which also allocates one output); the target bounds the latter by one tensor.
"""

from __future__ import annotations

import torch

import steering_core as sc

from .common import interleaved_ratio, peak_extra_bytes

SHAPE = (2, 4608, 3072)
K = 6


def run(device: torch.device, dtype: torch.dtype = torch.float32, shape: tuple[int, ...] = SHAPE) -> list[dict[str, object]]:
    gen = torch.Generator().manual_seed(0)
    hidden = torch.randn(*shape, generator=gen).to(device, dtype)
    raw = torch.randn(K, shape[-1], generator=gen, dtype=torch.float64)
    direction = sc.SafetyDirection.from_vectors(raw, [f"c{i}" for i in range(K)])
    scores = hidden[0, :512].to(torch.float32) @ direction.vectors.to(device).T
    median_scores = scores.median(dim=0).values.cpu()  # thresholds at the median: about half the tokens gated
    direction = sc.SafetyDirection(vectors=direction.vectors, categories=direction.categories, scale=direction.scale,
                                   thresholds=median_scores, centres=median_scores)
    bias = torch.randn(shape[-1], generator=gen).to(device, dtype)
    tensor_bytes = hidden.numel() * hidden.element_size()
    rows = []
    for mode in ("add", "gated", "project_out"):
        op = sc.SteeringOp(direction, sc.SteeringConfig(mode=mode, strength=[1.0, 0.5, 2.0, 1.5, 0.8, 1.2]))
        steered_s, add_s, ratio = interleaved_ratio(lambda op=op: op(hidden), lambda: hidden + bias, device)
        peak = peak_extra_bytes(lambda op=op: op(hidden), device)
        add_peak = peak_extra_bytes(lambda: hidden + bias, device)
        rows.append({
            "bench": "multi_category_steer", "mode": mode, "shape": list(shape), "dtype": str(dtype).replace("torch.", ""),
            "device": str(device), "steer_s": steered_s, "plain_add_s": add_s, "ratio": ratio,
            "peak_tensors": peak / tensor_bytes, "peak_extra_tensors": (peak - add_peak) / tensor_bytes,
            "target_ratio": 3.0, "target_peak_extra_tensors": 1.0,
        })
    return rows
