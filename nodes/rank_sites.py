"""Rank Intervention Sites: robustness-aware routing of DiT blocks, before any SAE is trained."""

from __future__ import annotations

from typing import Any

from comfy_api.latest import io

from steering_core import PromptPair
from steering_core.sae.activation_source import HARVEST_STREAMS, route_sites
from steering_core.errors import SafeSteerError
from steering_core.sae.routing import ranking_markdown, top_sites
from steering_core.steering.sites import Site

from .common import ALL, PROMPT_SETS, progress_bar, prompt_pairs
from .comfy_source import ComfyActivationSource
from .text_image import text_image
from .types import CATEGORY


def limited_pairs(prompt_set: str, custom_pairs: str, per_category: int) -> dict[str, list[PromptPair]]:
    """The prompt set's pairs, at most ``per_category`` from each category (the first ones)."""
    if per_category < 2:
        raise SafeSteerError(f"pairs_per_category must be at least 2, got {per_category}.")
    return {c: p[:per_category] for c, p in prompt_pairs(prompt_set, custom_pairs).items()}


def category_list(text: str, available: list[str], what: str) -> list[str] | None:
    """A comma list of categories (None for empty / 'auto'); each must be in ``available``."""
    names = [c.strip() for c in (text or "").split(",") if c.strip()]
    if not names or names == ["auto"]:
        return None
    unknown = [n for n in names if n not in available]
    if unknown:
        raise SafeSteerError(f"{what}: {unknown} are not in the prompt set, which has {', '.join(available)}.")
    return names


def harvest_inputs() -> list[Any]:
    """Inputs shared by Rank Intervention Sites and Train Safety SAE (how prompts are run through the model)."""
    return [
        io.Model.Input("model", tooltip="The diffusion model whose blocks are studied (not modified)."),
        io.Clip.Input("clip", tooltip="The model's text encoder, to encode the prompt pairs."),
        io.Latent.Input("latent", tooltip="An empty latent of the size to sample at (e.g. Empty Latent Image); "
                                          "smaller is faster, 512x512 is plenty."),
        io.Combo.Input("prompt_set", options=PROMPT_SETS, default=ALL,
                       tooltip="Paired safe/unsafe prompts: the shipped categories, one of them, or custom pairs."),
        io.Int.Input("pairs_per_category", default=16, min=2, max=1000,
                     tooltip="Pairs used from each category (each pair is sampled twice: safe and unsafe prompt)."),
        io.Int.Input("steps", default=4, min=1, max=50,
                     tooltip="Sampling steps per prompt (Euler, CFG 1): every step's activations are recorded."),
        io.Int.Input("seed", default=0, min=0, max=0xFFFFFFFFFFFFFFFF, control_after_generate=False,
                     tooltip="Noise seed, shared by every prompt so paired prompts differ only in their text."),
    ]


def route(model: Any, clip: Any, latent: dict, pairs: dict[str, list[PromptPair]], steps: int, seed: int,
          candidates: str, stream: str, source: list[str] | None, lam: float):
    """Harvest pooled activations at the candidate sites and rank them; returns (ranking, sites by key)."""
    n_prompts = 2 * sum(len(v) for v in pairs.values())
    return route_sites(ComfyActivationSource(model, clip, latent), pairs, steps, seed, candidates, stream, source, lam,
                       progress_bar(n_prompts))


class RankInterventionSites(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SafeSteerRankSites",
            display_name="Rank Intervention Sites",
            category=CATEGORY,
            description="Robustness-aware routing: rank DiT blocks by how well their activations separate safe from "
                        "unsafe prompts AND how stable that separation stays when the risk domain shifts (fit on some "
                        "categories, scored on held-out ones). robust = mean shift AUROC - lam * max(0, in-domain - "
                        "shift). Feed 'sites' to Train Safety SAE.",
            inputs=[
                *harvest_inputs(),
                io.String.Input("candidate_sites", default="all",
                                tooltip="Blocks to consider: 'all', 'double:0-18', 'single', ..."),
                io.Int.Input("top_k", default=4, min=1, max=64, tooltip="How many sites to put in the 'sites' output."),
                io.Combo.Input("stream", options=list(HARVEST_STREAMS), default="img",
                               tooltip="Token stream to read at each block (image tokens carry the rendered content)."),
                io.String.Input("source_categories", default="auto",
                                tooltip="'auto': leave-one-category-out (each category in turn is the shifted domain); "
                                        "or a comma list of source categories (the others are the target domain)."),
                io.Float.Input("lam", default=0.5, min=0.0, max=4.0, step=0.05,
                               tooltip="Penalty on the in-domain minus shift AUROC gap (0 = rank by shift AUROC only)."),
                io.String.Input("custom_pairs", default="", multiline=True, optional=True,
                                tooltip="For prompt_set 'custom': 'safe prompt | unsafe prompt' per line."),
            ],
            outputs=[io.String.Output(display_name="sites"), io.String.Output(display_name="table"),
                     io.Image.Output(display_name="table_image")],
        )

    @classmethod
    def execute(cls, model: Any, clip: Any, latent: dict, prompt_set: str, pairs_per_category: int, steps: int,
                seed: int, candidate_sites: str, top_k: int, stream: str, source_categories: str, lam: float,
                custom_pairs: str = "") -> io.NodeOutput:
        pairs = limited_pairs(prompt_set, custom_pairs, pairs_per_category)
        source = category_list(source_categories, list(pairs), "source_categories")
        ranking, _ = route(model, clip, latent, pairs, steps, seed, candidate_sites, stream, source, lam)
        chosen = top_sites(ranking, top_k)
        table = ranking_markdown(ranking)
        return io.NodeOutput(", ".join(str(s) for s in chosen), table,
                             text_image(table, highlight_rows=min(top_k, len(ranking))))


__all__ = ["HARVEST_STREAMS", "RankInterventionSites", "Site", "category_list", "harvest_inputs", "limited_pairs", "route"]
