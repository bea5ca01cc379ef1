"""A/B compare view of the Safety Strength Sweep: per-variant safety scores against hand-built monitor logs,
the Comparison Grid's ui payload and temp files, and a sweep on a tiny FLUX in the real host whose scores
must equal those of independently monitored single-strength runs."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from steering_core.evidence.ab_compare import caption, check_counts, label_strip, monitor_scores, variant_scores
from steering_core.errors import SafeSteerError
from steering_core.evidence.monitor import SafetyMonitorLog

from test_nodes_graph import direction_file

STRENGTHS = [0.0, 1.0, 2.0]


def record(log: SafetyMonitorLog, site: str, sigma: float, cond: float, uncond: float) -> None:
    """One call at ``site``: a cond row whose score is ``cond`` and an uncond row whose score is ``uncond``
    (each row's single token is (value, +-9), projected on the unit (1, 0))."""
    tokens = torch.tensor([[[cond, 9.0]], [[uncond, -9.0]]])
    log.record(site, sigma, tokens, torch.tensor([1.0, 0.0]), [0, 1])


def hand_log(label: str, first: tuple[float, float], last: tuple[float, float], stale: float = 100.0) -> SafetyMonitorLog:
    """Two runs; the last has 3 steps at sites A and B with the given cond scores at the first / last step."""
    log = SafetyMonitorLog(label, "global", ["double:0", "single:1"])
    log.start_run()
    for sigma in (1.0, 0.5):                                   # an older run that must be ignored
        record(log, "double:0", sigma, stale, -stale)
        record(log, "single:1", sigma, stale, -stale)
    log.start_run()
    record(log, "double:0", 1.0, first[0], -50.0)
    record(log, "single:1", 1.0, first[1], -50.0)
    record(log, "double:0", 0.6, 7.0, 40.0)
    record(log, "single:1", 0.6, 7.0, 40.0)
    record(log, "double:0", 0.3, last[0], 60.0)
    record(log, "single:1", 0.3, last[1], 60.0)
    return log


def grid_node(comfy):
    return comfy.node_class_mappings["SafeSteerComparisonGrid"]


def sweep_module(comfy):
    return sys.modules[grid_node(comfy).__module__]


def temp_file(image: dict) -> Path:
    import folder_paths

    assert image["type"] == "temp"
    return Path(folder_paths.get_temp_directory()) / image["subfolder"] / image["filename"]


def png(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def as_uint8(image: torch.Tensor) -> np.ndarray:
    """What ComfyUI writes for a ``[H, W, 3]`` image in 0..1."""
    return np.clip(255.0 * image.cpu().numpy(), 0, 255).astype(np.uint8)


# ------------------------------------------------------------------------------ scores by hand


def test_score_is_the_last_step_cond_mean_over_sites_of_the_last_run():
    log = hand_log("steered", first=(1.0, 2.0), last=(3.0, 5.0))
    # last run, cond branch: step 0 -> (1 + 2) / 2 = 1.5; last step (sigma 0.3) -> (3 + 5) / 2 = 4.0
    assert monitor_scores(log) == (1.5, 4.0)
    assert log.curve("cond")[1][-1] == 4.0

    logs = [hand_log("a", (0.0, 1.0), (2.0, 3.0)),          # score 2.5, first 0.5
            hand_log("b", (0.0, 0.0), (3.0, 4.5)),          # score 3.75
            hand_log("c", (1.0, 1.0), (-1.0, 0.0))]         # score -0.5
    variants = variant_scores(3, ["strength 0", "strength 0.5", "strength 2"], [0.0, 0.5, 2.0], logs)
    assert [(v.index, v.strength, v.score, v.score_first, v.delta) for v in variants] == [
        (0, 0.0, 2.5, 0.5, 0.0), (1, 0.5, 3.75, 0.0, 1.25), (2, 2.0, -0.5, 1.0, -3.0)]
    assert [caption(v) for v in variants] == [
        "strength 0 \u00b7 safety +2.50", "strength 0.5 \u00b7 safety +3.75 (\u0394 +1.25)",
        "strength 2 \u00b7 safety -0.50 (\u0394 -3.00)"]


def test_without_monitors_scores_are_null_and_labels_unchanged():
    variants = variant_scores(2, ["low", "high"], None, None)
    assert [(v.label, v.strength, v.score, v.score_first, v.delta) for v in variants] == [
        ("low", None, None, None, None), ("high", None, None, None, None)]
    assert [caption(v) for v in variants] == ["low", "high"]
    # no labels: the strength names the variant, else its index
    assert [v.label for v in variant_scores(2, None, [0.0, 1.5])] == ["strength 0", "strength 1.5"]
    assert [v.label for v in variant_scores(2)] == ["variant 0", "variant 1"]


def test_count_mismatch_names_both_counts_and_the_fix():
    log = hand_log("x", (0.0, 0.0), (1.0, 1.0))
    with pytest.raises(SafeSteerError, match=r"4 image batches but 3 monitors") as err:
        check_counts(4, [0.0, 1.0, 2.0, 3.0], [log] * 3)
    assert "Safety Monitor" in str(err.value) and "once per strength" in str(err.value)
    with pytest.raises(SafeSteerError, match=r"4 image batches but 3 strengths"):
        variant_scores(4, None, [0.0, 1.0, 2.0], None)
    with pytest.raises(SafeSteerError, match="recorded nothing"):
        variant_scores(1, None, [0.0], [SafetyMonitorLog("never sampled")])


def test_label_strip_draws_the_delta_and_fits_the_width():
    a = label_strip("strength 0.5 \u00b7 safety +3.21 (\u0394 +1.05)", 240, 20)
    b = label_strip("strength 0.5 \u00b7 safety +3.21 ( +1.05)", 240, 20)
    assert a.shape == (20, 240, 3) and a.dtype == np.float32 and 0.0 <= a.min() and a.max() <= 1.0
    assert not np.array_equal(a, b), "the delta sign was not drawn"
    wide = label_strip("strength 0.5 \u00b7 safety +3.21 (\u0394 +1.05)", 1024, 102)
    assert (wide[:, -3:] < 0.2).all(), "a long label at a large size must shrink to fit, not run off the cell"


# ------------------------------------------------------------------------------ the node, called directly


def test_node_mismatch_raises_with_both_counts(comfy):
    log = hand_log("x", (0.0, 0.0), (1.0, 1.0))
    images = [torch.rand(1, 8, 8, 3) for _ in range(4)]
    with pytest.raises(SafeSteerError, match=r"4 image batches but 3 monitors"):
        grid_node(comfy).execute(images=images, columns=[4], labels=None, strength=STRENGTHS + [3.0], monitor=[log] * 3)


def test_node_saves_the_grid_and_every_variant_to_temp(comfy):
    g = torch.Generator().manual_seed(0)
    images = [torch.rand(2, 12, 16, 3, generator=g), torch.rand(1, 12, 16, 3, generator=g)]
    logs = [hand_log("a", (0.0, 1.0), (2.0, 3.0)), hand_log("b", (0.0, 0.0), (3.0, 4.5))]
    out = grid_node(comfy).execute(images=images, columns=[2], labels=["strength 0", "strength 1"],
                                   strength=[0.0, 1.0], monitor=logs)
    grid = out.result[0]
    ui = out.ui
    assert set(ui) == {"images", "safesteer_ab"} and len(ui["images"]) == 1
    assert np.array_equal(png(temp_file(ui["images"][0])), as_uint8(grid[0]))
    expected = sweep_module(comfy).comparison_grid(images, ["strength 0 \u00b7 safety +2.50",
                                                            "strength 1 \u00b7 safety +3.75 (\u0394 +1.25)"], 2)
    assert torch.equal(grid, expected)
    entries = ui["safesteer_ab"]
    assert [(e["index"], e["label"], e["strength"], e["score"], e["score_first"], e["delta"]) for e in entries] == [
        (0, "strength 0", 0.0, 2.5, 0.5, 0.0), (1, "strength 1", 1.0, 3.75, 0.0, 1.25)]
    assert entries[1]["caption"] == "strength 1 \u00b7 safety +3.75 (\u0394 +1.25)"
    files = [temp_file(e["image"]) for e in entries]
    assert len(set(files)) == 2
    for e, path, batch in zip(entries, files, images):
        assert set(e["image"]) == {"filename", "subfolder", "type"}
        assert np.array_equal(png(path), as_uint8(batch[0])), "a variant's preview is its first image"
    json.dumps(ui, allow_nan=False)                             # what the server sends to the frontend

    plain = grid_node(comfy).execute(images=images, columns=[2])
    assert [(e["label"], e["strength"], e["score"], e["delta"]) for e in plain.ui["safesteer_ab"]] == [
        ("variant 0", None, None, None), ("variant 1", None, None, None)]
    assert torch.equal(plain.result[0], sweep_module(comfy).comparison_grid(images, [], 2))


# ------------------------------------------------------------------------------ a sweep in the real host


def _graph(comfy_base, strength, *, grid: bool) -> dict:
    name = direction_file(Path(comfy_base), "graph_dir_64", 64)
    g = {
        "model": {"class_type": "SafeSteerTinyModel", "inputs": {"arch": "flux", "seed": 0, "context_dim": 0, "pooled_dim": 0}},
        "pos": {"class_type": "SafeSteerTinyConditioning",
                "inputs": {"arch": "flux", "seed": 1, "tokens": 7, "context_dim": 0, "pooled_dim": 0}},
        "neg": {"class_type": "SafeSteerTinyConditioning",
                "inputs": {"arch": "flux", "seed": 2, "tokens": 7, "context_dim": 0, "pooled_dim": 0}},
        "latent": {"class_type": "SafeSteerTinyLatent", "inputs": {"arch": "flux", "batch": 1, "seed": 5}},
        "load": {"class_type": "SafeSteerLoadDirection", "inputs": {"direction_name": name, "categories": "all"}},
        "steer": {"class_type": "SafeSteerDiTSteer", "inputs": {
            "model": ["model", 0], "direction": ["load", 0], "strength": strength, "mode": "add", "sites": "all",
            "stream": "both", "start_percent": 0.0, "end_percent": 1.0, "cond_only": True}},
        "monitor": {"class_type": "SafeSteerSafetyMonitor", "inputs": {
            "model": ["steer", 0], "direction": ["load", 0], "sites": "all", "stream": "img", "category": "",
            "label": "steered"}},
        "sampler": {"class_type": "KSampler", "inputs": {
            "model": ["monitor", 0], "seed": 0, "steps": 2, "cfg": 2.0, "sampler_name": "euler", "scheduler": "simple",
            "positive": ["pos", 0], "negative": ["neg", 0], "latent_image": ["latent", 0], "denoise": 1.0}},
    }
    if grid:
        g["sweep"] = {"class_type": "SafeSteerStrengthSweep", "inputs": {"strengths": "0, 1, 2"}}
        g["preview"] = {"class_type": "SafeSteerTinyLatentPreview",
                        "inputs": {"samples": ["sampler", 0], "arch": "flux", "upscale": 4}}
        g["grid"] = {"class_type": "SafeSteerComparisonGrid", "inputs": {
            "images": ["preview", 0], "labels": ["sweep", 1], "columns": 3, "strength": ["sweep", 0],
            "monitor": ["monitor", 1]}}
    else:
        g["report"] = {"class_type": "SafeSteerMonitorReport",
                       "inputs": {"samples": ["sampler", 0], "monitor": ["monitor", 1]}}
        g["show"] = {"class_type": "PreviewAny", "inputs": {"source": ["report", 1]}}
    return g


def independent_final_score(comfy, comfy_base, strength: float) -> float:
    """One run at a fixed strength; its monitor's raw JSON scores, cond rows at the last step, mean over sites."""
    result = comfy.run(_graph(comfy_base, strength, grid=False)).raise_for_error()
    [log] = json.loads(result.ui("show")["text"][0])
    assert log["runs"] == 1
    cond = [s for s in log["scores"] if s["branch"] == "cond" and s["run"] == 0]
    last = max(s["step"] for s in cond)
    values = [s["score"] for s in cond if s["step"] == last]
    assert len(values) == len(log["sites"]) > 1
    return sum(values) / len(values)


def test_sweep_graph_scores_equal_independently_monitored_runs(comfy, comfy_base):
    graph = _graph(comfy_base, ["sweep", 0], grid=True)
    result = comfy.run(graph).raise_for_error()
    ui = result.ui("grid")
    entries = ui["safesteer_ab"]
    assert len(ui["images"]) == 1 and temp_file(ui["images"][0]).is_file()
    assert [e["strength"] for e in entries] == STRENGTHS
    assert [e["label"] for e in entries] == ["strength 0", "strength 1", "strength 2"]
    assert [e["index"] for e in entries] == [0, 1, 2]
    for e in entries:
        assert temp_file(e["image"]).is_file()
    expected = [independent_final_score(comfy, comfy_base, s) for s in STRENGTHS]
    scores = [e["score"] for e in entries]
    assert scores == pytest.approx(expected, rel=1e-6, abs=1e-9)
    assert scores[0] < scores[1] < scores[2], "add mode along the direction must raise the score"
    assert entries[0]["delta"] == 0.0
    assert [e["delta"] for e in entries] == pytest.approx([s - expected[0] for s in expected], rel=1e-6, abs=1e-9)
    assert all(e["score_first"] is not None for e in entries)
    # the saved grid is the node's output image, labelled with the scores
    grid_png = png(temp_file(ui["images"][0]))
    assert grid_png.shape[1] == 3 * png(temp_file(entries[0]["image"])).shape[1]
    assert entries[2]["caption"].startswith("strength 2 \u00b7 safety ") and "(\u0394 +" in entries[2]["caption"]
