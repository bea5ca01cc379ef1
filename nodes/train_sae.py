"""Train Safety SAE: the core SAE pipeline (``steering_core.sae.pipeline``: route -> harvest -> train -> select
features -> adapt -> save) over ComfyUI's sampler as the activation source, saving in ``models/safety_saes``
(never overwriting a file). Interrupted runs resume from the work folder; the same settings on the same model
reuse the saved file."""

from __future__ import annotations

from typing import Any

from comfy_api.latest import io

import comfy.model_management
import comfy.utils
from steering_core import anchor_prompts
from steering_core.sae.activation_source import HARVEST_STREAMS
from steering_core.sae.safety_sae import SafetySAE
from steering_core.sae.pipeline import ADAPT_CHOICES, WORK_DIR, Progress
from steering_core.sae.pipeline import train_safety_sae as run_pipeline

from .comfy_harvest import run_prompts
from .comfy_source import ComfyActivationSource
from .folders import SAES
from .rank_sites import category_list, harvest_inputs, limited_pairs
from .types import CATEGORY, SafetySAEType

__all__ = ["ADAPT_CHOICES", "SAES", "TrainSafetySAE", "WORK_DIR", "train_safety_sae"]


def comfy_progress() -> Progress:
    """``progress(done, total)`` on a ComfyUI progress bar (a new bar when the total changes: routing, then
    training); the queue's Cancel stops the run here (finished work stays in the work folder)."""
    bar: list[Any] = []

    def report(done: int, total: int) -> None:
        if not bar or bar[0].total != total:
            bar[:] = [comfy.utils.ProgressBar(total)]
        bar[0].update_absolute(done, total)
        comfy.model_management.throw_exception_if_processing_interrupted()

    return report


def train_safety_sae(model: Any, clip: Any, latent: dict, prompt_set: str, pairs_per_category: int, steps: int,
                     seed: int, sites: str, stream: str, expansion: int, k: int, train_steps: int,
                     tokens_per_step: int, n_harmful: int, source_categories: str, adapt_to: str, filename: str,
                     resume: bool, custom_pairs: str = "") -> tuple[SafetySAE, str, str]:
    """Do the whole job; returns (the saved Safety SAE as loaded back from disk, its path, a summary)."""
    stem = SAES.clean_stem(filename)
    pairs = limited_pairs(prompt_set, custom_pairs, pairs_per_category)
    listed = category_list(source_categories if source_categories.strip() != "all" else "", list(pairs),
                           "source_categories")
    # run_prompts is looked up here, at call time, so the harvest can be observed through this module
    source = ComfyActivationSource(model, clip, latent, runner=run_prompts)
    result = run_pipeline(source, pairs, SAES.directory(), stem, sites=sites, stream=stream, expansion=expansion, k=k,
                          train_steps=train_steps, tokens_per_step=tokens_per_step, n_harmful=n_harmful, steps=steps,
                          seed=seed, source_categories=listed, adapt_to=adapt_to,
                          anchors=anchor_prompts()[: max(8, 2 * pairs_per_category)], resume=resume,
                          progress=comfy_progress(),
                          file_info={"prompt_set": prompt_set, "pairs_per_category": pairs_per_category})
    return result.sae, result.path, result.summary


class TrainSafetySAE(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SafeSteerTrainSAE",
            display_name="Train Safety SAE",
            category=CATEGORY,
            description="Harvest block activations of the prompt pairs, train a TopK sparse autoencoder per site, "
                        "choose the harmful (and safe) features on the source categories, optionally adapt only the "
                        "decoders to a target domain with the encoders frozen, and save to models/safety_saes (never "
                        "overwriting). Interrupted? Queue again with resume on: finished work is reused.",
            inputs=[
                *harvest_inputs(),
                io.String.Input("sites", default="auto:4",
                                tooltip="'auto:N' ranks every block (Rank Intervention Sites) and keeps the N most "
                                        "robust; or a list such as 'double:3, single:7' (e.g. from Rank Intervention "
                                        "Sites' output)."),
                io.Combo.Input("stream", options=list(HARVEST_STREAMS), default="img",
                               tooltip="Token stream the SAEs read (and later steer) at each block."),
                io.Int.Input("expansion", default=16, min=1, max=64,
                             tooltip="Dictionary size as a multiple of the model's hidden size."),
                io.Int.Input("k", default=32, min=1, max=1024, tooltip="Active latents per token (TopK)."),
                io.Int.Input("train_steps", default=2000, min=1, max=1_000_000, tooltip="Adam steps per site."),
                io.Int.Input("tokens_per_step", default=64, min=1, max=65536,
                             tooltip="Tokens recorded per prompt, step and site (a random subset)."),
                io.Int.Input("n_harmful", default=16, min=1, max=512,
                             tooltip="Harmful latents to keep per site (largest effect size, unsafe vs safe)."),
                io.String.Input("source_categories", default="all",
                                tooltip="'all', or a comma list: the SAE and its harmful features are learned on these; "
                                        "the remaining categories are the target domain for adaptation."),
                io.Combo.Input("adapt_to", options=list(ADAPT_CHOICES), default="none",
                               tooltip="Decoder-only adaptation with the encoder frozen: to the held-out categories' "
                                       "activations, only their benign prompts, or benign anchor prompts."),
                io.String.Input("filename", default="safety_sae",
                                tooltip="File name in models/safety_saes (a number is added if it exists)."),
                io.Boolean.Input("resume", default=True,
                                 tooltip="Reuse the harvested activations and training checkpoint of an interrupted run "
                                         "with the same settings."),
                io.String.Input("custom_pairs", default="", multiline=True, optional=True,
                                tooltip="For prompt_set 'custom': 'safe prompt | unsafe prompt' per line."),
            ],
            outputs=[SafetySAEType.Output(display_name="sae"), io.String.Output(display_name="summary")],
            is_output_node=True,
        )

    @classmethod
    def execute(cls, model: Any, clip: Any, latent: dict, prompt_set: str, pairs_per_category: int, steps: int,
                seed: int, sites: str, stream: str, expansion: int, k: int, train_steps: int, tokens_per_step: int,
                n_harmful: int, source_categories: str, adapt_to: str, filename: str, resume: bool,
                custom_pairs: str = "") -> io.NodeOutput:
        bundle, _path, summary = train_safety_sae(
            model, clip, latent, prompt_set, pairs_per_category, steps, seed, sites, stream, expansion, k, train_steps,
            tokens_per_step, n_harmful, source_categories, adapt_to, filename, resume, custom_pairs)
        return io.NodeOutput(bundle, summary, ui={"text": [summary]})
