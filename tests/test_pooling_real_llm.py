"""On the real SmolLM2-135M-Instruct: a plain mean is owned by the attention sink; robust pooling is not;
and the default middle layer separates safe from unsafe prompts better than the last one.

Layer 15 (inside the layers 12-29 that carry the sink), SmolLM2's default layer (16) and the last (30), all
from one forward pass. The shipped pairs of all six categories are split 70/30 (seed 0); the global
direction is the diff of means on the training pairs, scored by exact AUROC on the held-out pairs
(safe = positive).
"""

from __future__ import annotations

import pytest
import torch

import steering_core as sc
from steering_core.encoders import TransformersEncoder
from steering_core.encoders.hf import SMOLLM2_LAYER
from steering_core.directions.pooling import massive_token_share, pool

pytestmark = [pytest.mark.usefixtures("one_torch_thread"), pytest.mark.host_independent]
LAYER = 15
LAST = 30


@pytest.fixture(scope="module")
def encoded() -> dict[str, object]:
    encoder = TransformersEncoder.smollm2()
    train, held = [], []
    for pairs in sc.all_category_pairs().values():
        a, b = sc.split_pairs(pairs, 0.3, 0)
        train += a
        held += b
    groups = {"train_safe": [p.safe for p in train], "train_unsafe": [p.unsafe for p in train],
              "held_safe": [p.safe for p in held], "held_unsafe": [p.unsafe for p in held]}
    out: dict[str, object] = {}
    for name, prompts in groups.items():
        layers = [encoder.encode_layers(prompts[i:i + 32], (LAYER, SMOLLM2_LAYER, LAST)) for i in range(0, len(prompts), 32)]
        batches = [b[LAYER] for b in layers]
        out[name] = {p: torch.cat([pool(b.hidden, b.mask, p) for b in batches]).double() for p in ("mean", "robust_mean")}
        out[name + "_share"] = torch.cat([massive_token_share(b.hidden, b.mask) for b in batches])
        out[name + "_layers"] = {layer: torch.cat([pool(b[layer].hidden, b[layer].mask, "robust_mean") for b in layers]).double()
                                 for layer in (SMOLLM2_LAYER, LAST)}
    return out


def _mean_pairwise_cosine(v: torch.Tensor) -> float:
    u = torch.nn.functional.normalize(v, dim=1)
    c = u @ u.T
    n = c.shape[0]
    return float((c.sum() - c.diagonal().sum()) / (n * (n - 1)))


def test_plain_mean_is_sink_dominated_and_robust_mean_is_not(encoded) -> None:
    share = torch.cat([encoded[k + "_share"] for k in ("train_safe", "train_unsafe", "held_safe", "held_unsafe")])
    every = {p: torch.cat([encoded[k][p] for k in ("train_safe", "train_unsafe", "held_safe", "held_unsafe")])
             for p in ("mean", "robust_mean")}
    results = {}
    for p in ("mean", "robust_mean"):
        direction = sc.estimate_direction(encoded["train_safe"][p], encoded["train_unsafe"][p])
        v = direction.vectors[0].double()
        results[p] = (sc.auroc((encoded["held_safe"][p] @ v).tolist(), (encoded["held_unsafe"][p] @ v).tolist()),
                      _mean_pairwise_cosine(every[p]))
    print(f"SmolLM2 layer {LAYER}: share of the plain mean's squared norm carried by sink/massive tokens: median "
          f"{float(share.median()):.4f}, min {float(share.min()):.4f}")
    for p, (auc, cos) in results.items():
        print(f"  {p:12s} held-out AUROC of the global direction {auc:.3f}; mean pairwise cosine of prompts {cos:.4f}")
    assert float(share.median()) > 0.9                # the sink owns the plain mean
    assert results["mean"][1] > 0.99                  # ... so every prompt is nearly the same vector
    assert results["robust_mean"][1] < 0.95
    assert results["robust_mean"][0] > results["mean"][0] + 0.05
    assert results["robust_mean"][0] > 0.85


def test_default_middle_layer_separates_better_than_the_last(encoded) -> None:
    """SmolLM2's default layer (16) against the last (30): held-out AUROC of the global direction, robust mean."""
    aucs = {}
    for layer in (SMOLLM2_LAYER, LAST):
        safe, unsafe = encoded["train_safe_layers"][layer], encoded["train_unsafe_layers"][layer]
        v = sc.estimate_direction(safe, unsafe).vectors[0].double()
        aucs[layer] = sc.auroc((encoded["held_safe_layers"][layer] @ v).tolist(),
                               (encoded["held_unsafe_layers"][layer] @ v).tolist())
    print(f"SmolLM2 global direction, held-out AUROC: layer {SMOLLM2_LAYER} {aucs[SMOLLM2_LAYER]:.3f}, "
          f"layer {LAST} {aucs[LAST]:.3f}")
    assert TransformersEncoder.smollm2.__func__.__defaults__[0] == SMOLLM2_LAYER  # the constructor's default layer
    assert aucs[SMOLLM2_LAYER] > aucs[LAST] + 0.05   # measured 0.950 against 0.863
    assert aucs[SMOLLM2_LAYER] > 0.93
