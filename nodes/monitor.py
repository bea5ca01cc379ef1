"""Safety Monitor (MODEL -> MODEL + SAFETY_MONITOR) and Safety Monitor Report (plot + JSON).

The monitor patches a clone of the model with a recording plan at the chosen sites (through
``dit_patch.install``, so it composes with every SafeSteer steering node: put it *after* a steering
node to watch the steered activations). Each sampling run starts a new run in its log (an
``OUTER_SAMPLE`` wrapper); the report reads the last run. Not in the graph, it costs nothing.
"""

from __future__ import annotations

import uuid
from typing import Any

from comfy_api.latest import io

import comfy.patcher_extension
from steering_core import SafetyDirection
from steering_core.steering.dit import DiTSteerConfig, DiTSteerer
from steering_core.errors import SafeSteerError
from steering_core.evidence.monitor import SafetyMonitorLog, monitor_plot
from steering_core.evidence.plots import to_comfy_image
from steering_core.steering.site_plans import MonitorPlanner
from steering_core.steering.sites import parse_sites

from .dit_adapter import inspect_model
from .dit_patch import install
from .types import CATEGORY, SafetyDirectionType

SafetyMonitorType = io.Custom("SAFETY_MONITOR")
MONITOR_STREAMS = ("img", "txt", "both")


def monitored_model(model: Any, direction: SafetyDirection, sites: str, stream: str, category: str,
                    label: str) -> tuple[Any, SafetyMonitorLog]:
    """A clone of ``model`` that records per-step scores into a new log."""
    if stream not in MONITOR_STREAMS:
        raise SafeSteerError(f"unknown stream {stream!r}; choose img, txt or both.")
    info = inspect_model(model)
    chosen = parse_sites(sites, info.num_double, info.num_single)
    cat = (category or "").strip()
    if not cat:
        cat = "global" if "global" in direction.categories else direction.categories[0]
    if cat not in direction.categories:
        raise SafeSteerError(f"category {cat!r} is not in the direction; it has {', '.join(direction.categories)}.")
    steerer = DiTSteerer(direction.select([cat]), DiTSteerConfig(mode="add", strength=1.0, streams="both",
                                                                 cond_only=False), info.hidden_size, info.context_dim)
    if steerer.space == "conditioning" and info.project is None:
        raise SafeSteerError(f"{info.spec.name}'s text projection needs more than the conditioning, so a conditioning-"
                             "space direction cannot be mapped into its blocks; give a hidden-space direction.")
    log = SafetyMonitorLog(label=label or "monitor", category=cat, sites=[str(s) for s in chosen])
    m = install(model, info, MonitorPlanner(log, steerer, info.project, info.spec.text_projection_linear, chosen), chosen, stream,
                sigma_start=float("inf"), sigma_end=float("-inf"), what="Safety Monitor")

    def outer_sample(executor: Any, *args: Any, **kwargs: Any) -> Any:
        log.start_run()
        return executor(*args, **kwargs)

    m.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.OUTER_SAMPLE, "safesteer.monitor." + uuid.uuid4().hex,
                           outer_sample)
    return m, log


class SafetyMonitor(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SafeSteerSafetyMonitor",
            display_name="Safety Monitor",
            category=CATEGORY,
            description="Record, at every sampling step, the projection of the chosen blocks' tokens onto a safety "
                        "direction (mapped into the blocks like DiT Safety Steer does), for the cond and uncond "
                        "branches. Place it after a steering node to watch the steered model; feed its monitor "
                        "to Safety Monitor Report. Higher = safer.",
            inputs=[
                io.Model.Input("model", tooltip="The model to watch (a clone with recorders is returned)."),
                SafetyDirectionType.Input("direction", tooltip="In the model's conditioning or hidden space."),
                io.String.Input("sites", default="all", tooltip="Blocks to read, e.g. 'all', 'double:0-18', 'single:10'."),
                io.Combo.Input("stream", options=list(MONITOR_STREAMS), default="img",
                               tooltip="Token stream to read at each block."),
                io.String.Input("category", default="",
                                tooltip="Category of the direction to project on (empty: 'global' if present, else "
                                        "the first)."),
                io.String.Input("label", default="steered", tooltip="Name of this curve in the report."),
            ],
            outputs=[io.Model.Output(display_name="model"), SafetyMonitorType.Output(display_name="monitor")],
        )

    @classmethod
    def execute(cls, model: Any, direction: SafetyDirection, sites: str, stream: str, category: str,
                label: str) -> io.NodeOutput:
        m, log = monitored_model(model, direction, sites, stream, category, label)
        return io.NodeOutput(m, log)


class SafetyMonitorReport(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SafeSteerMonitorReport",
            display_name="Safety Monitor Report",
            category=CATEGORY,
            description="Plot the safety score against the step for one or two monitors (e.g. steered vs unsteered: "
                        "a second Safety Monitor on the unsteered model), cond solid and uncond dashed; the raw "
                        "numbers come out as JSON. Connect the sampler's LATENT so the report runs after sampling.",
            inputs=[
                io.Latent.Input("samples", tooltip="The sampler's output (orders the report after sampling)."),
                SafetyMonitorType.Input("monitor", tooltip="From Safety Monitor."),
                SafetyMonitorType.Input("baseline", optional=True,
                                        tooltip="A second monitor, e.g. on the unsteered model."),
                io.Latent.Input("baseline_samples", optional=True,
                                tooltip="The baseline sampler's output (orders the report after it)."),
            ],
            outputs=[io.Image.Output(display_name="plot"), io.String.Output(display_name="json")],
            is_output_node=True,
        )

    @classmethod
    def execute(cls, samples: dict, monitor: SafetyMonitorLog, baseline: SafetyMonitorLog | None = None,
                baseline_samples: dict | None = None) -> io.NodeOutput:
        logs = [monitor] + ([baseline] if baseline is not None else [])
        image = to_comfy_image(monitor_plot(logs))
        text = "[" + ",\n".join(log.to_json() for log in logs) + "]"
        summary = []
        for log in logs:
            steps, vals = log.curve("cond")
            if vals:
                summary.append(f"{log.label}: cond score {vals[0]:+.4g} (step 0) -> {vals[-1]:+.4g} (step {steps[-1]})")
        return io.NodeOutput(image, text, ui={"text": summary})
