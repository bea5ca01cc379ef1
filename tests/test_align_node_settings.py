"""Align Cross-Model and Transfer Report: the ``lam_auto`` and ``max_anchors`` inputs give what the core gives.

Reference: the core calls themselves (``fit_alignment`` / ``transfer_report`` with ``lam="auto"`` on
``sample_prompts(anchors, N, seed)``, the command line's anchor policy), fed the same pooled vectors;
the node must match them exactly, and a first-N subset or the numeric lam must give something else
(so the comparison can fail). Source: the real all-MiniLM-L6-v2 in ComfyUI's BERT class; target: a
tiny random Flux text encoder. 40 anchors, 20 drawn.
"""

from __future__ import annotations

import json
import sys

import pytest
import torch
from test_nodes_graph import ANCHORS as GRAPH_ANCHORS

from steering_core import CATEGORIES, category_pairs, fit_alignment, sample_prompts, transfer_report
from steering_core.encoders.base import encode_pooled, encoder_pooling

pytestmark = pytest.mark.usefixtures("one_torch_thread")

ANCHORS = GRAPH_ANCHORS.splitlines() + [
    "a lantern glowing on a porch", "a row of colourful houses by a canal", "a tortoise crossing a garden path",
    "a kettle steaming on a stove", "a paper boat in a puddle", "a windmill in a tulip field",
    "a pianist in an empty concert hall", "a stack of pancakes with berries", "a deer in a misty meadow",
    "a market stall selling spices",
]
N = 20


@pytest.fixture(scope="module")
def clips(te):
    return te.build_clip("minilm"), te.build_clip("flux", 0)


def node(comfy, node_id: str):
    return comfy.node_class_mappings[node_id]


def comfy_encoder(comfy, clip):
    """The pack's own ComfyUI CLIP adapter (the node pools through it; here it only supplies vectors)."""
    package = node(comfy, "SafeSteerAlignCrossModel").__module__.rsplit(".", 1)[0]
    return sys.modules[f"{package}.clip_encoder"].ComfyTextEncoder(clip)


def pooled(encoder, prompts: list[str]) -> torch.Tensor:
    return encode_pooled(encoder, prompts, pooling=encoder_pooling(encoder))


def test_align_node_lam_auto_and_max_anchors_equal_the_core_fit(comfy, clips) -> None:
    source, target = (comfy_encoder(comfy, c) for c in clips)
    align = node(comfy, "SafeSteerAlignCrossModel")
    alignment, report = align.execute(*clips, "ridge", 0.01, "auto", anchors="\n".join(ANCHORS), lam_auto=True,
                                      max_anchors=N).result
    drawn = sample_prompts(ANCHORS, N, seed=0)
    reference = fit_alignment(pooled(source, drawn), pooled(target, drawn), "ridge", lam="auto")
    print("\n" + report)
    assert alignment.settings["lam_selected"] == reference.settings["lam_selected"]
    assert alignment.params.keys() == reference.params.keys()
    for key, value in reference.params.items():
        assert torch.equal(alignment.params[key], value), key
    assert f"on {N} benign anchors (a seeded random {N} of {len(ANCHORS)})" in report
    assert f"lam auto: {reference.settings['lam_selected']:g} (leave-one-out)" in report
    # the first N anchors (the old policy) give another map, so the equality above is about the draw
    first = ANCHORS[:N]
    assert drawn != first
    other = fit_alignment(pooled(source, first), pooled(target, first), "ridge", lam="auto")
    probe = pooled(source, ANCHORS)
    assert not torch.allclose(other.transform(probe), reference.transform(probe), atol=1e-3)

    # the defaults keep what existing workflows did: lam 0.01 on every anchor
    default, default_report = align.execute(*clips, "ridge", 0.01, "auto", anchors="\n".join(ANCHORS)).result
    old = fit_alignment(pooled(source, ANCHORS), pooled(target, ANCHORS), "ridge", lam=0.01)
    assert torch.equal(default.transform(probe), old.transform(probe))
    assert default.settings["lam"] == 0.01 and "lam_selected" not in default.settings
    assert f"on {len(ANCHORS)} benign anchors (" in default_report and ", lam 0.01;" in default_report


def test_align_node_safe_prompts_adds_the_shipped_safe_prompts(comfy, clips) -> None:
    """``safe_prompts``: the map is the core fit on the drawn anchors followed by every shipped pair's safe prompt."""
    source, target = (comfy_encoder(comfy, c) for c in clips)
    alignment, report = node(comfy, "SafeSteerAlignCrossModel").execute(
        *clips, "procrustes", 0.01, "auto", anchors="\n".join(ANCHORS), max_anchors=N, safe_prompts=True).result
    safe = [p.safe for c in CATEGORIES for p in category_pairs(c)]
    prompts = list(dict.fromkeys(sample_prompts(ANCHORS, N, seed=0) + safe))
    assert len(prompts) == N + len(set(safe)) and not set(safe) & set(ANCHORS)
    reference = fit_alignment(pooled(source, prompts), pooled(target, prompts), "procrustes")
    for key, value in reference.params.items():
        assert torch.equal(alignment.params[key], value), key
    assert f"on {N} benign anchors (a seeded random {N} of {len(ANCHORS)}) + {len(set(safe))} safe prompts" in report
    assert alignment.diagnostics["n_anchors"] == len(prompts)


def test_align_node_refuses_too_few_anchors(comfy, clips) -> None:
    from steering_core.errors import PromptDataError

    with pytest.raises(PromptDataError, match="max_anchors is 5; use 0 .* or at least 16"):
        node(comfy, "SafeSteerAlignCrossModel").execute(*clips, "ridge", 0.01, "auto", anchors="\n".join(ANCHORS),
                                                        max_anchors=5)


def test_transfer_report_node_lam_auto_and_max_anchors_equal_the_core_report(comfy, clips) -> None:
    seed, category = 3, "violence"
    pairs = {category: category_pairs(category)[:6]}
    table, _plot, text = node(comfy, "SafeSteerTransferReport").execute(
        *clips, category, "ridge", 0.3, seed, "auto", 0.01, 6, anchors="\n".join(ANCHORS), lam_auto=True,
        max_anchors=N).result
    data = json.loads(text)
    drawn = sample_prompts(ANCHORS, N, seed=seed)          # drawn with the node's seed, as --max-anchors with --seed
    source, target = (comfy_encoder(comfy, c) for c in clips)
    expected = transfer_report(source, target, pairs, drawn, map_kind="ridge", seed=seed, lam="auto")
    print("\n" + table)
    assert data == json.loads(expected.to_json())
    assert data["settings"]["n_anchors"] == N and data["settings"]["lam"] == "auto"
    assert data["maps"][0]["lam_selected"] is not None
    numeric = transfer_report(source, target, pairs, drawn, map_kind="ridge", seed=seed, lam=0.01)
    assert json.loads(numeric.to_json())["maps"] != data["maps"]
    # safe_prompts: the core's safe_prompts_as_anchors (the training pairs' safe prompts join the anchors)
    _table, _plot, with_safe = node(comfy, "SafeSteerTransferReport").execute(
        *clips, category, "ridge", 0.3, seed, "auto", 0.01, 6, anchors="\n".join(ANCHORS), lam_auto=True,
        max_anchors=N, safe_prompts=True).result
    expected_safe = transfer_report(source, target, pairs, drawn, map_kind="ridge", seed=seed, lam="auto",
                                    safe_prompts_as_anchors=True)
    assert json.loads(with_safe) == json.loads(expected_safe.to_json())
    n_train = len(expected_safe.split[category]["train"])
    assert json.loads(with_safe)["settings"]["n_anchors"] == N + n_train
