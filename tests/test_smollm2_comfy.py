"""The real SmolLM2-135M-Instruct inside ComfyUI's own Llama class, as the LLM source of the cross-model workflow.

References: transformers' ``LlamaModel`` on the same converted weights (token ids and hidden states),
and ``directions_from_pairs`` on that transformers model (the direction the graph estimates).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from ui_standins import TINY_SIZES, standin_outputs
from workflow_check import object_info_from_host, ui_to_api

from steering_core import SafetyDirection, category_pairs
from steering_core.encoders import TransformersEncoder, directions_from_pairs
from steering_core.directions.pooling import massive_token_share

pytestmark = pytest.mark.usefixtures("one_torch_thread")

WORKFLOW = Path(__file__).resolve().parents[1] / "workflows" / "cross_model_llm_to_flux.json"
TEXT = "A knight in polished armour standing in a misty pine forest at dawn."
ANCHORS = [
    "a bowl of fruit on a wooden table", "a red bicycle leaning against a brick wall", "a lighthouse on a rocky coast",
    "children flying kites on a beach", "a cup of coffee next to an open book", "a snowy mountain village at dusk",
    "a golden retriever catching a frisbee", "a farmer's market with colourful vegetables", "an old library with tall shelves",
    "a sailboat on a calm lake", "a city street in the rain at night", "a field of sunflowers under a blue sky",
    "a chef slicing vegetables in a kitchen", "a cat sleeping on a windowsill", "a hot air balloon over green hills",
    "a wooden cabin in a pine forest", "a train crossing a stone bridge", "a garden with roses and a fountain",
    "a desert landscape with cacti", "a family having a picnic in a park", "a jazz band playing in a small club",
    "penguins standing on an ice floe", "a bowl of ramen with chopsticks", "a couple dancing in a ballroom",
]
TOLERANCE = 1e-3
"""Max |comfy - transformers| over a prompt's states, relative to the largest state norm (the sink's, ~27,000)."""


@pytest.fixture(scope="module")
def reference() -> TransformersEncoder:
    """transformers' LlamaModel on the converted weights, read where the test kit's ComfyUI encoder reads."""
    from tiny_host_pack.tiny_text_encoders import SMOLLM2_LAYER

    return TransformersEncoder.smollm2(layer=SMOLLM2_LAYER + 1)


def test_smollm2_in_comfy_llama_matches_transformers(comfy, te, reference: TransformersEncoder) -> None:
    import comfy.text_encoders.llama as llama

    clip = te.build_clip("smollm2")
    assert any(isinstance(m, llama.Llama2_) for m in clip.cond_stage_model.modules()), "not ComfyUI's Llama class"
    for text in (TEXT, "a crowd of rioters beating a man in the street"):
        tokens = clip.tokenize(text)
        ids = reference.tokenizer(text)["input_ids"]
        assert [t[0] for t in tokens["smollm2"][0]] == ids, "ComfyUI's tokenization differs"
        cond, pooled, extra = te.encode(clip, text)
        expected = reference.encode([text]).hidden
        assert cond.shape == expected.shape == (1, len(ids), 576) and pooled is None
        err = float((cond - expected).abs().max() / expected.norm(dim=-1).max())
        norms = expected[0].norm(dim=-1)
        print(f"comfy vs transformers: max |diff| / max norm = {err:.2e}; "
              f"token norms first {norms[0]:.0f}, median {norms[1:].median():.0f}")
        assert err < TOLERANCE
        assert all(te.cosine(cond[0, i], expected[0, i]) > 0.9999 for i in range(len(ids)))
        assert norms[0] > 50 * norms[1:].median()           # the attention sink this layer carries
        assert float(massive_token_share(cond)[0]) > 0.9     # ... and it would own a plain mean


def _cross_model_graph(object_info: dict) -> dict:
    """workflows/cross_model_llm_to_flux.json as the API prompt, with the real SmolLM2 as the source LLM and
    tiny FLUX stand-ins for the rest; one category and a short anchor list keep it CPU-sized."""
    workflow = json.loads(WORKFLOW.read_text())
    prompt = ui_to_api(workflow, object_info)
    for node in workflow["nodes"]:
        node_id = str(node["id"])
        if node_id not in prompt:
            continue
        if node["type"] == "CLIPLoader":
            prompt[node_id] = {"class_type": "SafeSteerTinyTextEncoder", "inputs": {"kind": "smollm2", "seed": 0}}
        elif node["type"] in ("UNETLoader", "DualCLIPLoader", "VAELoader"):
            spec = standin_outputs(node)[0]
            widgets = {k: v for k, v in spec["widgets"].items() if k != "control_after_generate"}
            defaults = {name: entry[1]["default"] for name, entry in object_info[spec["type"]]["input"]["required"].items()
                        if len(entry) > 1 and "default" in entry[1]}
            prompt[node_id] = {"class_type": spec["type"], "inputs": {**defaults, **widgets}}
        prompt[node_id]["inputs"].update(TINY_SIZES.get(node["type"], {}))
    for node in prompt.values():
        if node["class_type"] == "SafeSteerEstimateDirection":
            node["inputs"].update(prompt_set="violence", benign_anchors="\n".join(ANCHORS))
        if node["class_type"] == "SafeSteerAlignCrossModel":
            node["inputs"].update(anchors="\n".join(ANCHORS), safe_prompts=False)  # not the 990 shipped safe prompts
    return prompt


def test_cross_model_workflow_runs_with_the_real_llm_source(comfy, comfy_base, reference: TransformersEncoder) -> None:
    object_info = object_info_from_host(comfy.prompt_server, comfy.loop)
    prompt = _cross_model_graph(object_info)
    estimate = next(k for k, n in prompt.items() if n["class_type"] == "SafeSteerEstimateDirection")
    align = next(k for k, n in prompt.items() if n["class_type"] == "SafeSteerAlignCrossModel")
    assert prompt[estimate]["inputs"]["pooling"] == "auto" and prompt[align]["inputs"]["pooling"] == "auto"
    prompt["save_source"] = {"class_type": "SafeSteerSaveDirection",
                             "inputs": {"direction": [estimate, 0], "filename": "smollm2/source"}}
    result = comfy.run(prompt).raise_for_error()
    folder = Path(comfy_base) / "models" / "safety_directions"
    source = SafetyDirection.load(folder / result.ui("save_source")["text"][0].removeprefix("saved "))
    save = next(k for k, n in prompt.items() if n["class_type"] == "SafeSteerSaveDirection" and k != "save_source")
    moved = SafetyDirection.load(folder / result.ui(save)["text"][0].removeprefix("saved "))
    # auto pooling: the LLM source drops its sink (robust_mean), the FLUX target (T5 + CLIP) keeps a plain mean.
    assert source.pooling == "robust_mean" and source.dim == 576 and source.categories == ("violence",)
    assert moved.pooling == "mean" and moved.dim == 64 and moved.thresholds is not None
    # The graph's direction is the one transformers' model gives for the same pairs and pooling.
    expected = directions_from_pairs(reference, {"violence": category_pairs("violence")}, pooling="auto", include_global=False)
    cos = float(source.vectors[0].double() @ expected.vectors[0].double())
    print(f"direction from ComfyUI's Llama vs transformers: cos {cos:.6f}; scale {float(source.scale[0]):.3f} "
          f"vs {float(expected.scale[0]):.3f}")
    assert cos > 0.9999
    assert torch.isclose(source.scale[0].double(), expected.scale[0].double(), rtol=1e-3)
    images = [k for k, n in prompt.items() if n["class_type"] == "SaveImage"]
    assert images and result.ui(images[0])["images"]


def test_estimate_node_says_when_a_plain_mean_is_sink_dominated(comfy) -> None:
    pairs = "\n".join(["a calm lake at dawn | a corpse floating in a lake at dawn",
                       "a man holding a bouquet | a man holding a bloody knife"])
    graph = {
        "llm": {"class_type": "SafeSteerTinyTextEncoder", "inputs": {"kind": "smollm2", "seed": 0}},
        "plain": {"class_type": "SafeSteerEstimateDirection", "inputs": {
            "clip": ["llm", 0], "prompt_set": "custom", "pooling": "mean", "false_positive_rate": 0.25,
            "custom_pairs": pairs, "benign_anchors": "\n".join(ANCHORS[:16])}},
        "auto": {"class_type": "SafeSteerEstimateDirection", "inputs": {
            "clip": ["llm", 0], "prompt_set": "custom", "pooling": "auto", "false_positive_rate": 0.25,
            "custom_pairs": pairs, "benign_anchors": "\n".join(ANCHORS[:16])}},
        "show_plain": {"class_type": "PreviewAny", "inputs": {"source": ["plain", 1]}},
        "show_auto": {"class_type": "PreviewAny", "inputs": {"source": ["auto", 1]}},
    }
    result = comfy.run(graph).raise_for_error()
    plain, auto = result.ui("show_plain")["text"][0], result.ui("show_auto")["text"][0]
    print(plain.splitlines()[-1])
    assert "WARNING: mean pooling" in plain and "robust_mean" in plain
    assert "WARNING" not in auto and "robust_mean pooling" in auto
