"""ComfyUI's sampler as an activation source (``steering_core.sae.activation_source.ActivationSource``).

Wraps :func:`.comfy_harvest.run_prompts`: each prompt encoded with the CLIP and sampled with ComfyUI's
own sampler (Euler, simple schedule, CFG 1) from the same seeded noise at the LATENT's size, the
chosen sites recorded through ``dit_patch.install`` on a private clone. The model is inspected once.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from steering_core.sae.activation_source import TokenSink, weights_fingerprint
from steering_core.steering.sites import Site

from .comfy_harvest import run_prompts
from .dit_adapter import DiTModelInfo, diffusion_model_of, inspect_model

Runner = Callable[..., DiTModelInfo]


def model_fingerprint(model: Any, info: DiTModelInfo) -> str:
    """Class, sizes and a sample of weights: a different model never resumes another model's work."""
    return weights_fingerprint(diffusion_model_of(model), info.class_name, info.hidden_size, info.num_double,
                               info.num_single)


class ComfyActivationSource:
    """A ComfyUI MODEL + CLIP + LATENT that runs prompts and records block activations.

    ``runner`` is the harvest function (``comfy_harvest.run_prompts`` signature), injectable so a caller
    can observe or replace it.
    """

    def __init__(self, model: Any, clip: Any, latent: dict, runner: Runner = run_prompts):
        self.model, self.clip, self.latent, self.runner = model, clip, latent, runner
        self.info = inspect_model(model)
        self.hidden_size = self.info.hidden_size
        self.num_double = self.info.num_double
        self.num_single = self.info.num_single

    def fingerprint(self) -> str:
        return model_fingerprint(self.model, self.info)

    def describe(self) -> dict[str, object]:
        return {"class": self.info.class_name, "arch": self.info.spec.name}

    def run(self, prompts: Sequence[str], steps: int, seed: int, sites: tuple[Site, ...], stream: str,
            sink: TokenSink, progress: Callable[[int], None] | None = None) -> None:
        self.runner(self.model, self.clip, list(prompts), self.latent, steps, seed, sites, stream, sink, progress,
                    self.info)
