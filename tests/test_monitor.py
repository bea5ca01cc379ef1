"""Per-step safety monitor: core bookkeeping against hand-computed values, and the nodes on a tiny FLUX
against projections computed independently from activations captured by recording patches."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from steering_core import SafetyDirection
from steering_core.errors import SafeSteerError
from steering_core.evidence.monitor import SafetyMonitorLog, branch_of_rows, monitor_plot, row_scores

from test_dit_host import add_recorders, conditioning_direction, sample
from test_nodes_graph import direction_file, sampling_graph

# ------------------------------------------------------------------------------ core


def test_row_scores_and_branches_by_hand():
    tokens = torch.tensor([[[1.0, 0.0], [3.0, 2.0]], [[0.0, 1.0], [0.0, -3.0]]])   # [2, 2, 2]
    units = torch.tensor([[1.0, 0.0], [0.6, 0.8]])
    # row 0: mean token (2, 1) . (1, 0) = 2; row 1: mean token (0, -1) . (0.6, 0.8) = -0.8
    assert row_scores(tokens, units).tolist() == pytest.approx([2.0, -0.8])
    assert branch_of_rows(4, [1, 0]) == ["uncond", "uncond", "cond", "cond"]
    assert branch_of_rows(3, None) == ["cond"] * 3
    with pytest.raises(SafeSteerError, match="chunks"):
        branch_of_rows(3, [0, 1])


def test_log_groups_rows_by_branch_and_numbers_steps_by_sigma():
    log = SafetyMonitorLog("x")
    t = torch.tensor([[[1.0, 0.0]], [[3.0, 0.0]]])                                   # scores 1 and 3
    u = torch.tensor([1.0, 0.0])
    log.record("double:0", 14.6, t, u, [0, 1])
    log.record("double:1", 14.6, 2 * t, u, [0, 1])
    log.record("double:0", 7.0, t, u, [0, 1])
    assert [(s.step, s.branch, s.site, s.score) for s in log.scores] == [
        (0, "cond", "double:0", 1.0), (0, "uncond", "double:0", 3.0), (0, "cond", "double:1", 2.0),
        (0, "uncond", "double:1", 6.0), (1, "cond", "double:0", 1.0), (1, "uncond", "double:0", 3.0)]
    assert log.curve("cond") == ([0, 1], [1.5, 1.0])
    assert log.curve("uncond", site="double:1") == ([0], [6.0])
    log.start_run()
    log.record("double:0", 14.6, t, u, None)
    assert log.curve("cond") == ([0], [2.0]) and log.curve("cond", run=0) == ([0, 1], [1.5, 1.0])
    image = monitor_plot([log])
    assert image.shape[2] == 3 and image.dtype == np.uint8
    with pytest.raises(SafeSteerError, match="recorded nothing"):
        monitor_plot([SafetyMonitorLog("empty")])


# ------------------------------------------------------------------------------ nodes on a tiny FLUX


def unit_shift(model, direction: SafetyDirection) -> torch.Tensor:
    """Flux's linear txt_in carries the conditioning step s*v to W (s v): the monitored hidden direction."""
    w = model.model.diffusion_model.txt_in.weight.detach().to(torch.float64)
    shift = (direction.vectors[0].to(torch.float64) * float(direction.scale[0])) @ w.T
    return shift / shift.norm(), float(shift.norm())


def test_monitor_numbers_equal_projections_of_captured_activations(comfy, tm):
    model = tm.build_model("flux", seed=0)
    direction = conditioning_direction(tm.arch("flux").context_dim, seed=3)
    monitor = comfy.node_class_mappings["SafeSteerSafetyMonitor"]
    watched, log = monitor.execute(model, direction, "double:1, single:1", "img", "", "base").result
    sites = [("double", 0), ("double", 1), ("single", 1)]
    outer_model, outer = add_recorders(watched, sites)
    sample(comfy, tm, outer_model, "flux", cfg=2.0, steps=3)
    u, _ = unit_shift(model, direction)
    per_call = len(sites)
    sigmas = []
    expected: dict[tuple[int, str, str], float] = {}
    for c in range(len(outer) // per_call):
        recs = outer[c * per_call:(c + 1) * per_call]
        txt_len = next(r.out["txt"].shape[1] for r in recs if r.site[0] == "double")
        if recs[0].sigma not in sigmas:
            sigmas.append(recs[0].sigma)
        step = sigmas.index(recs[0].sigma)
        for r in recs:
            if r.site == ("double", 0):
                continue
            img = r.out["img"].to(torch.float64)
            img = img[:, txt_len:] if r.site[0] == "single" else img
            per = img.shape[0] // len(r.cond_or_uncond)
            for j, flag in enumerate(r.cond_or_uncond):
                rows = img[j * per:(j + 1) * per]
                value = float((rows.mean(dim=1) @ u).mean())
                expected[(step, "cond" if flag == 0 else "uncond", f"{r.site[0]}:{r.site[1]}")] = value
    got = {(s.step, s.branch, s.site): s.score for s in log.scores}
    assert log.runs == 1 and len(sigmas) == 3
    assert set(got) == set(expected) and len(got) == 3 * 2 * 2
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, rel=1e-5, abs=1e-6), key


def test_steered_minus_unsteered_at_the_first_block_is_the_closed_form_shift(comfy, tm):
    model = tm.build_model("flux", seed=0)
    direction = conditioning_direction(tm.arch("flux").context_dim, seed=3)
    monitor = comfy.node_class_mappings["SafeSteerSafetyMonitor"]
    dit = comfy.node_class_mappings["SafeSteerDiTSteer"]
    steered = dit.execute(model, direction, 1.5, "add", "all", "img", 0.0, 1.0, True).result[0]
    watched, log = monitor.execute(steered, direction, "double:0", "img", "", "steered").result
    base, base_log = monitor.execute(model, direction, "double:0", "img", "", "unsteered").result
    sample(comfy, tm, watched, "flux", cfg=2.0, steps=3)
    sample(comfy, tm, base, "flux", cfg=2.0, steps=3)
    _, norm = unit_shift(model, direction)
    first = {(s.branch): s.score for s in log.scores if s.step == 0}
    first_base = {(s.branch): s.score for s in base_log.scores if s.step == 0}
    # step 0 sees the same input; block 0's image output moves by exactly 1.5 * W(s v) on cond rows only
    assert first["cond"] - first_base["cond"] == pytest.approx(1.5 * norm, rel=1e-4)
    assert first["uncond"] == pytest.approx(first_base["uncond"], abs=1e-9)
    report = comfy.node_class_mappings["SafeSteerMonitorReport"]
    out = report.execute({"samples": torch.zeros(1)}, log, base_log).result
    assert out[0].ndim == 4 and out[0].shape[-1] == 3 and '"label": "unsteered"' in out[1]


def test_monitor_and_report_in_a_graph(comfy, comfy_base):
    name = direction_file(Path(comfy_base), "graph_dir_64", 64)
    graph = sampling_graph("flux", {
        "load": {"class_type": "SafeSteerLoadDirection", "inputs": {"direction_name": name, "categories": "all"}},
        "steer": {"class_type": "SafeSteerSafetyMonitor", "inputs": {
            "model": ["model", 0], "direction": ["load", 0], "sites": "all", "stream": "img", "category": "",
            "label": "base"}},
    })
    graph["report"] = {"class_type": "SafeSteerMonitorReport",
                       "inputs": {"samples": ["sampler", 0], "monitor": ["steer", 1]}}
    graph["show"] = {"class_type": "PreviewImage", "inputs": {"images": ["report", 0]}}
    result = comfy.run(graph).raise_for_error()
    assert result.ui("report")["text"][0].startswith("base: cond score")
    unmonitored = comfy.run(sampling_graph("flux")).raise_for_error()
    assert unmonitored.ui("stats")["sha256"] == result.ui("stats")["sha256"]  # watching changes nothing
    bad = comfy.run({**graph, "steer": {**graph["steer"], "inputs": {**graph["steer"]["inputs"], "category": "nope"}}})
    assert "nope" in bad.error_message
