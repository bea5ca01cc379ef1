"""A diffusers pipeline as an activation source (``steering_core.sae.activation_source.ActivationSource``).

Each prompt runs through the pipeline itself (``pipe(prompt, num_inference_steps=steps, generator=<seed>,
output_type="latent", **call_kwargs)``: its own text encoders, scheduler and noise, the same seed for
every prompt), while a recording planner, hooked through diffusers' ``HookRegistry`` by the same
machinery that steers (:class:`~.hooks.PipelineSteering`, the same site resolution and streams), hands
the conditional rows of each chosen block's tokens to the sink. ``step`` is the scheduler's step index.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import torch

from ..sae.activation_source import TokenSink, check_stream, weights_fingerprint
from ..steering.site_plans import SitePlanner
from ..steering.sites import Site
from .families import inspect_transformer
from .hooks import PipelineSteering, StepClock


class PipelineActivationSource:
    """Records block activations of a pipeline's transformer while the pipeline samples prompts.

    Args:
        pipe: a diffusers pipeline whose transformer is in :data:`~.families.FAMILIES`.
        call_kwargs: extra arguments of every ``pipe(...)`` call (``height``, ``width``,
            ``max_sequence_length``, ``guidance_scale``, ``latents``...). With classifier-free guidance on,
            only the conditional rows are recorded.
        generator_device: where the seeded ``torch.Generator`` lives.
        expert: the transformer to record (``"transformer"``, or Wan 2.2's low-noise ``"transformer_2"``;
            only the steps that expert runs are recorded).
    """

    def __init__(self, pipe: Any, call_kwargs: Mapping[str, Any] | None = None, generator_device: str = "cpu",
                 expert: str = "transformer"):
        self.pipe = pipe
        self.expert = expert
        self.transformer = getattr(pipe, expert)
        self.info = inspect_transformer(self.transformer)
        self.hidden_size = self.info.hidden_size
        self.num_double = self.info.num_double
        self.num_single = self.info.num_single
        self.call_kwargs = dict(call_kwargs or {})
        self.generator_device = generator_device

    def fingerprint(self) -> str:
        return weights_fingerprint(self.transformer, self.info.class_name, self.hidden_size, self.num_double,
                                   self.num_single)

    def describe(self) -> dict[str, object]:
        return {"class": self.info.class_name, "arch": self.info.family.name}

    def run(self, prompts: Sequence[str], steps: int, seed: int, sites: tuple[Site, ...], stream: str,
            sink: TokenSink, progress: Callable[[int], None] | None = None) -> None:
        check_stream(stream)
        where = {"prompt": 0, "step": 0}

        def recorder(site: Site) -> Callable[[torch.Tensor], torch.Tensor]:
            def record(tokens: torch.Tensor) -> torch.Tensor:     # [N cond rows, T, H]
                for row in tokens.detach().to("cpu", torch.float32):
                    sink(where["prompt"], site, row, where["step"])
                return tokens
            return record

        def on_call(step: int, _sigma: float) -> None:
            where["step"] = step

        planner = SitePlanner({s: recorder(s) for s in sites}, cond_only=True, expects="observe")
        hooks = PipelineSteering(self.pipe, self.info, planner, sites, stream, StepClock(self.pipe.scheduler, 0.0, 1.0),
                                 on_call=on_call, expert=self.expert)
        try:
            for i, text in enumerate(prompts):
                where["prompt"] = i
                generator = torch.Generator(self.generator_device).manual_seed(seed)
                self.pipe(prompt=text, num_inference_steps=steps, generator=generator, output_type="latent",
                          **self.call_kwargs)
                if progress is not None:
                    progress(1)
        finally:
            hooks.remove()
