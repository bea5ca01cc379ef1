"""torch.compile of a steered diffusers transformer: same images as eager, no recompilation from step to step.

Backend: ``aot_eager`` (Dynamo capture + AOTAutograd, no code generation), because what SafeSteer's hooks can
break is graph capture and guards, and inductor's C++ code generation of those same graphs takes minutes on
this 2-core CI machine; compilations are counted with Dynamo's own CompileCounterWithBackend.
"""

from __future__ import annotations

import pytest
import torch
from torch._dynamo.testing import CompileCounterWithBackend

from steering_core import SafetyDirection
from steering_core.diffusers import steer_pipeline
from steering_core.diffusers.tiny import tiny_flux_pipeline

pytestmark = pytest.mark.host_independent


def test_compiled_steered_transformer_matches_eager_without_recompiling() -> None:
    pipe = tiny_flux_pipeline(num_layers=2, num_single_layers=2)
    v = torch.randn(1, 48, generator=torch.Generator().manual_seed(1))
    direction = SafetyDirection(vectors=v / v.norm(), categories=("global",), scale=torch.tensor([2.0]))
    kw = dict(prompt="a cat", height=16, width=16, num_inference_steps=4, max_sequence_length=24, output_type="pt")
    unsteered = pipe(**kw, generator=torch.Generator().manual_seed(0)).images
    handle = steer_pipeline(pipe, direction, strength=1.0, mode="add", start_percent=0.3)   # steps 2 and 3 steered
    shut = SafetyDirection(vectors=direction.vectors, categories=("global",), scale=direction.scale,
                           thresholds=torch.tensor([float("-inf")]))
    silent = steer_pipeline(pipe, shut, strength=1.0, mode="gated", sites="double:1, single:0")  # no gate ever opens
    eager = pipe(**kw, generator=torch.Generator().manual_seed(0)).images
    assert not torch.equal(eager, unsteered)
    eager_reports = handle.report(), silent.report()
    counter = CompileCounterWithBackend("aot_eager")
    torch._dynamo.reset()
    pipe.transformer.compile(backend=counter, dynamic=False)
    frames: list[int] = []

    def after_step(_pipe: object, _i: int, _t: object, kwargs: dict) -> dict:
        frames.append(counter.frame_count)
        return kwargs

    try:
        first = pipe(**kw, generator=torch.Generator().manual_seed(0), callback_on_step_end=after_step).images
        second = pipe(**kw, generator=torch.Generator().manual_seed(0), callback_on_step_end=after_step).images
        reports = handle.report(), silent.report()
    finally:
        handle.remove()
        silent.remove()
        torch._dynamo.reset()
    print(f"\ncompiled frames after each step (two runs of 4 steps): {frames}; reports after eager + 2 compiled "
          f"runs: {reports}")
    # the reports count every run since the handles were made: the eager run's counts, three times over
    (steered, quiet), (eager_steered, eager_quiet) = reports, eager_reports
    assert eager_steered["changed"] == eager_steered["edits"] == {s: 2 for s in eager_steered["edits"]}  # 2 steps
    assert steered["changed"] == steered["edits"] == {s: 3 * n for s, n in eager_steered["edits"].items()}
    assert eager_quiet["edits"] == {"double:1": 4, "single:0": 4} and eager_quiet["changed"] == {"double:1": 0, "single:0": 0}
    assert quiet["edits"] == {"double:1": 12, "single:0": 12} and quiet["changed"] == eager_quiet["changed"]
    assert "ran 8 times" in eager_quiet["note"] and "no gate opened" in eager_quiet["note"]
    assert quiet["note"] == eager_quiet["note"].replace("ran 8 times", "ran 24 times")
    assert "note" not in steered
    torch.testing.assert_close(first, eager, rtol=0, atol=1e-5)
    torch.testing.assert_close(second, eager, rtol=0, atol=1e-5)
    assert frames[0] == frames[1] and frames[2] == frames[3]          # no recompile between steps of one kind
    assert frames[2] > frames[1]                                       # entering the window compiles the steered path
    assert len(set(frames[4:])) == 1                                   # the second run: one set of graphs, all steps
