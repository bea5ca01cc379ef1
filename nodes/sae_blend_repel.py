"""SAE Blend/Repel (MODEL): sparse-feature safety steering at the Safety SAE's DiT sites."""

from __future__ import annotations

from typing import Any

from comfy_api.latest import io

from steering_core.errors import DimensionMismatchError, SafeSteerError
from steering_core.sae.safety_sae import SafetySAE, SiteSAE
from steering_core.sae.steering import SAESteerConfig, SAESteerer
from steering_core.steering.sites import Site, parse_sites, sae_site

from .dit_adapter import DiTModelInfo, inspect_model
from .dit_patch import install
from .dit_steer import window_inputs
from .site_plans import SitePlanner
from .types import CATEGORY, SafetySAEType

MAX_STRENGTH = 2.0
PATHS = ("fast", "full")
DIT_STREAM = {"img": "img", "txt": "txt", "all": "both"}
BETA_DOC = ("Blend: move active tokens toward the SAE's safe reconstruction (harmful features removed, the safe "
            "counterpart features added, the SAE's error term kept). 1 = all the way; 0 = off.")
GAMMA_DOC = ("Repel: remove the harmful features' decoded contribution so the frozen encoder reads them as off. "
             "1 = switched off; 0 = off.")


def site_of(entry: SiteSAE, info: DiTModelInfo) -> Site:
    """The model block an SAE entry sits at; a clear error when this model has no such block."""
    return sae_site(entry.site, info.num_double, info.num_single, f"{info.spec.name} model")


def check_bundle(bundle: SafetySAE, info: DiTModelInfo) -> None:
    """Hidden sizes and features must fit the model."""
    for entry in bundle:
        if entry.sae.d_in != info.hidden_size:
            raise DimensionMismatchError(
                f"the SAE at {entry.site} reads activations of size {entry.sae.d_in}, but this {info.spec.name} model's "
                f"blocks output size {info.hidden_size}. Train a Safety SAE on this model (Train Safety SAE).")
        if entry.features is None or entry.features.harmful.numel() == 0:
            raise SafeSteerError(f"the SAE at {entry.site} has no harmful features chosen, so there is nothing to "
                                 "steer; make it with Train Safety SAE (which chooses them on the prompt pairs).")


def select_entries(bundle: SafetySAE, sites: str, info: DiTModelInfo) -> list[tuple[Site, SiteSAE]]:
    """The bundle's entries at the blocks named by ``sites`` ('all' = every SAE in the file)."""
    located = [(site_of(e, info), e) for e in bundle]
    if (sites or "all").strip().lower() == "all":
        return located
    wanted = set(parse_sites(sites, info.num_double, info.num_single))
    chosen = [(s, e) for s, e in located if s in wanted]
    if not chosen:
        raise SafeSteerError(f"none of the sites {sites!r} has an SAE in this file; it has "
                             f"{', '.join(bundle.site_keys)}. Use 'all' or one of those.")
    return chosen


def sae_steer_model(model: Any, bundle: SafetySAE, beta: float, gamma: float, sites: str, start_percent: float,
                    end_percent: float, cond_only: bool, path: str = "fast") -> Any:
    """A clone of ``model`` with SAE Blend/Repel at the bundle's sites."""
    for name, value in (("beta", beta), ("gamma", gamma)):
        if not 0.0 <= float(value) <= MAX_STRENGTH:
            raise SafeSteerError(f"{name} {value} is outside 0-{MAX_STRENGTH:g}.")
    if end_percent < start_percent:
        raise SafeSteerError(f"end_percent ({end_percent}) must not be below start_percent ({start_percent}).")
    if path not in PATHS:
        raise SafeSteerError(f"unknown encoder path {path!r}; choose fast or full.")
    if not isinstance(bundle, SafetySAE):
        raise SafeSteerError("the sae input must be a Safety SAE (from Load Safety SAE or Train Safety SAE).")
    info = inspect_model(model)
    check_bundle(bundle, info)
    entries = select_entries(bundle, sites, info)
    sampling = model.get_model_object("model_sampling")
    sigma_start = float(sampling.percent_to_sigma(start_percent))
    sigma_end = float(sampling.percent_to_sigma(end_percent))
    config = SAESteerConfig(beta=float(beta), gamma=float(gamma), path=path)
    m = model.clone()
    if beta == 0 and gamma == 0:
        return m
    by_stream: dict[str, dict[Site, SAESteerer]] = {}
    for site, entry in entries:
        by_stream.setdefault(DIT_STREAM[entry.stream], {})[site] = SAESteerer(entry.sae, entry.features, config)
    for stream, steerers in by_stream.items():
        planner = SitePlanner(steerers, cond_only)
        install(m, info, planner, tuple(steerers), stream, sigma_start, sigma_end, clone=False, what="SAE Blend/Repel")
    return m


class SAEBlendRepel(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SafeSteerSAEBlendRepel",
            display_name="SAE Blend/Repel",
            category=CATEGORY,
            description="SafeDIG-style sparse safety steering: at every site of the Safety SAE, tokens where a harmful "
                        "feature is active are Repelled (harmful features switched off) and Blended toward the safe "
                        "reconstruction; every other token is left bit-identical. " + BETA_DOC + " " + GAMMA_DOC,
            inputs=[
                io.Model.Input("model", tooltip="The diffusion model to steer (a patched clone is returned)."),
                SafetySAEType.Input("sae", tooltip="From Load Safety SAE or Train Safety SAE, made on this model."),
                io.Float.Input("beta", default=0.5, min=0.0, max=MAX_STRENGTH, step=0.05, round=0.001,
                               display_mode=io.NumberDisplay.slider, tooltip=BETA_DOC),
                io.Float.Input("gamma", default=1.0, min=0.0, max=MAX_STRENGTH, step=0.05, round=0.001,
                               display_mode=io.NumberDisplay.slider, tooltip=GAMMA_DOC),
                io.String.Input("sites", default="all",
                                tooltip="'all' = every site in the SAE file, or a subset such as 'double:3, single:7'."),
                *window_inputs(),
                io.Combo.Input("path", options=list(PATHS), default="fast", optional=True,
                               tooltip="fast: read only the harmful features' pre-activations (calibrated thresholds; "
                                       "a few % of the full cost); full: exact TopK over the whole dictionary."),
            ],
            outputs=[io.Model.Output(display_name="model")],
        )

    @classmethod
    def execute(cls, model: Any, sae: SafetySAE, beta: float, gamma: float, sites: str, start_percent: float,
                end_percent: float, cond_only: bool, path: str = "fast") -> io.NodeOutput:
        return io.NodeOutput(sae_steer_model(model, sae, beta, gamma, sites, start_percent, end_percent, cond_only,
                                             path))
