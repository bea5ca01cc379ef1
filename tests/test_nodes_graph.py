"""SafeSteer nodes in real graphs, run by ComfyUI's own validator and executor (KSampler included)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from steering_core import SafetyDirection

ANCHORS = "\n".join([
    "a bowl of fresh fruit on a wooden table", "a quiet mountain lake at sunrise", "children flying kites in a park",
    "a cat sleeping on a windowsill", "a red bicycle leaning against a brick wall", "a cup of coffee next to a laptop",
    "a lighthouse on a rocky coast", "a field of sunflowers under a blue sky", "an astronaut floating above earth",
    "a chef plating a colourful salad", "a snowy village street at night", "a dog catching a frisbee on the beach",
    "a library with tall wooden shelves", "a hot air balloon over green hills", "a bakery window full of bread",
    "a violinist playing on a stage", "a train crossing a stone bridge", "a garden with blooming roses",
    "a family having a picnic by a river", "a robot watering plants in a greenhouse", "a sailboat on calm water",
    "an old map on a desk with a compass", "a waterfall in a tropical forest", "students studying in a classroom",
    "a fox walking through autumn leaves", "a city skyline at dusk", "a painter working on a canvas",
    "a bowl of ramen with chopsticks", "a couple dancing in a ballroom", "penguins standing on an ice floe",
])


def direction_file(base: Path, name: str, dim: int, seed: int = 0) -> str:
    folder = base / "models" / "safety_directions"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.safetensors"
    if not path.exists():
        g = torch.Generator().manual_seed(seed)
        v = torch.randn(1, dim, generator=g)
        SafetyDirection.from_vectors(v / v.norm() * 2.0, ["global"], source_model=f"test-{dim}").save(path)
    return path.name


def sampling_graph(arch: str, steer: dict | None = None, cfg: float = 2.0) -> dict:
    """TinyModel -> [SafeSteer node] -> KSampler -> LatentStats; ``steer`` holds the SafeSteer nodes."""
    graph = {
        "model": {"class_type": "SafeSteerTinyModel", "inputs": {"arch": arch, "seed": 0, "context_dim": 0, "pooled_dim": 0}},
        "pos": {"class_type": "SafeSteerTinyConditioning",
                "inputs": {"arch": arch, "seed": 1, "tokens": 7, "context_dim": 0, "pooled_dim": 0}},
        "neg": {"class_type": "SafeSteerTinyConditioning",
                "inputs": {"arch": arch, "seed": 2, "tokens": 7, "context_dim": 0, "pooled_dim": 0}},
        "latent": {"class_type": "SafeSteerTinyLatent", "inputs": {"arch": arch, "batch": 1, "seed": -1}},
        "sampler": {"class_type": "KSampler", "inputs": {
            "model": ["model", 0], "seed": 0, "steps": 3, "cfg": cfg, "sampler_name": "euler", "scheduler": "simple",
            "positive": ["pos", 0], "negative": ["neg", 0], "latent_image": ["latent", 0], "denoise": 1.0}},
        "stats": {"class_type": "SafeSteerTinyLatentStats", "inputs": {"latent": ["sampler", 0]}},
    }
    if steer:
        graph.update(steer)
        graph["sampler"]["inputs"]["model"] = ["steer", 0]
    return graph


def dit_steer_nodes(direction_name: str, strength: float, mode: str = "add") -> dict:
    return {
        "load": {"class_type": "SafeSteerLoadDirection", "inputs": {"direction_name": direction_name, "categories": "all"}},
        "steer": {"class_type": "SafeSteerDiTSteer", "inputs": {
            "model": ["model", 0], "direction": ["load", 0], "strength": strength, "mode": mode, "sites": "all",
            "stream": "both", "start_percent": 0.0, "end_percent": 1.0, "cond_only": True}},
    }


def sha(result) -> str:
    return result.raise_for_error().ui("stats")["sha256"][0]


@pytest.mark.parametrize("arch", ["flux", "sd3", "wan21", "qwen_image"])
def test_ksampler_graph_strength_zero_matches_unpatched_and_nothing_leaks(comfy, comfy_base, arch):
    name = direction_file(Path(comfy_base), "graph_dir_64", 64)
    baseline = sha(comfy.run(sampling_graph(arch)))
    assert sha(comfy.run(sampling_graph(arch, dit_steer_nodes(name, 0.0)))) == baseline
    steered = comfy.run(sampling_graph(arch, dit_steer_nodes(name, 2.0)))
    assert sha(steered) != baseline and steered.ui("stats")["finite"] == [True]
    assert sha(comfy.run(sampling_graph(arch))) == baseline


def test_dimension_mismatch_is_a_node_error_and_the_host_keeps_working(comfy, comfy_base):
    name = direction_file(Path(comfy_base), "graph_dir_77", 77)
    failed = comfy.run(sampling_graph("flux", dit_steer_nodes(name, 1.0)))
    assert not failed.success
    assert failed.error_node == "steer"
    assert "size 77" in failed.error_message and "Transport" in failed.error_message
    assert comfy.run(sampling_graph("flux")).raise_for_error().success


def test_conditioning_steering_graph_and_sweep_runs_every_strength(comfy, comfy_base):
    name = direction_file(Path(comfy_base), "graph_dir_64", 64)
    graph = sampling_graph("flux")
    graph.update({
        "load": {"class_type": "SafeSteerLoadDirection", "inputs": {"direction_name": name, "categories": "all"}},
        "sweep": {"class_type": "SafeSteerStrengthSweep", "inputs": {"strengths": "0, 1, 3"}},
        "apply": {"class_type": "SafeSteerApplyConditioning", "inputs": {
            "positive": ["pos", 0], "direction": ["load", 0], "strength": ["sweep", 0], "mode": "add",
            "token_scope": "prompt"}},
    })
    graph["sampler"]["inputs"]["positive"] = ["apply", 0]
    result = comfy.run(graph).raise_for_error()
    stats = result.ui("stats")
    assert len(stats["sha256"]) == 3                     # one KSampler run per strength, in one queue run
    baseline = sha(comfy.run(sampling_graph("flux")))
    assert stats["sha256"][0] == baseline                # strength 0 = unsteered
    assert len(set(stats["sha256"])) == 3


def test_estimate_align_transport_apply_chain_with_comfy_text_encoders(comfy, comfy_base):
    """Source: the real all-MiniLM-L6-v2 inside ComfyUI's BERT class; target: a tiny Flux text encoder."""
    graph = sampling_graph("flux")
    graph.update({
        "source": {"class_type": "SafeSteerTinyTextEncoder", "inputs": {"kind": "minilm", "seed": 0}},
        "target": {"class_type": "SafeSteerTinyTextEncoder", "inputs": {"kind": "flux", "seed": 0}},
        "estimate": {"class_type": "SafeSteerEstimateDirection", "inputs": {
            "clip": ["source", 0], "prompt_set": "violence", "pooling": "mean", "false_positive_rate": 0.1,
            "benign_anchors": ANCHORS}},
        "align": {"class_type": "SafeSteerAlignCrossModel", "inputs": {
            "source_clip": ["source", 0], "target_clip": ["target", 0], "map_kind": "ridge", "lam": 0.01,
            "pooling": "mean", "anchors": ANCHORS}},
        "transport": {"class_type": "SafeSteerTransportDirection", "inputs": {
            "direction": ["estimate", 0], "alignment": ["align", 0], "false_positive_rate": 0.1, "calibrate": True}},
        "prompt": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["target", 0],
                                                              "text": "a man stabbing someone, blood everywhere"}},
        "apply": {"class_type": "SafeSteerApplyConditioning", "inputs": {
            "positive": ["prompt", 0], "direction": ["transport", 0], "strength": 1.0, "mode": "add",
            "token_scope": "prompt"}},
        "save": {"class_type": "SafeSteerSaveDirection", "inputs": {"direction": ["transport", 0],
                                                                    "filename": "chain/minilm_to_flux"}},
    })
    graph["sampler"]["inputs"]["positive"] = ["apply", 0]
    first = comfy.run(graph).raise_for_error()
    assert first.ui("stats")["finite"] == [True]
    saved = Path(first.ui("save")["text"][0].removeprefix("saved "))
    folder = Path(comfy_base) / "models" / "safety_directions"
    direction = SafetyDirection.load(folder / saved)
    assert direction.dim == 64 and direction.thresholds is not None and direction.gate_vectors is None  # gates score the projection
    assert direction.categories == ("violence",)
    # saving again never overwrites: a numbered file appears next to the first
    second = comfy.run(graph).raise_for_error()
    again = Path(second.ui("save")["text"][0].removeprefix("saved "))
    assert again != saved and (folder / saved).exists() and (folder / again).exists()
    assert SafetyDirection.load(folder / again).vectors.equal(direction.vectors)  # the alignment came from cache
