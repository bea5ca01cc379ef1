"""SafeSteer in diffusers pipelines (optional extra ``diffusers``; imported only when used).

    >>> from steering_core.diffusers import steer_pipeline
    >>> handle = steer_pipeline(pipe, direction, strength=1.0)   # hooks pipe.transformer (and a Wan 2.2 transformer_2)
    >>> image = pipe("a prompt").images[0]
    >>> handle.remove()                                           # the transformer is as before

Hooks go through diffusers' own ``HookRegistry`` / ``ModelHook`` (:mod:`.hooks`); the plans are the
ComfyUI pack's (:mod:`steering_core.steering.site_plans`). :class:`PipelineTextEncoder` makes a pipeline's text
encoders a :class:`~steering_core.encoders.TextEncoder`, so estimate -> (align) -> steer runs on a pipeline.
:func:`train_safety_sae` trains a Safety SAE through the pipeline (the Train Safety SAE node's core pipeline
over :class:`PipelineActivationSource`).
"""

from .encoders import PipelineTextEncoder
from .experts import pipeline_experts
from .families import FAMILIES, DiffusersFamily, TransformerInfo, inspect_transformer, supported_classes
from .pipeline import SteeringHandle, monitor_pipeline, sae_blend_repel_pipeline, steer_pipeline
from .source import PipelineActivationSource
from .train import train_safety_sae

__all__ = [
    "FAMILIES", "DiffusersFamily", "PipelineActivationSource", "PipelineTextEncoder", "SteeringHandle", "TransformerInfo",
    "inspect_transformer", "monitor_pipeline", "pipeline_experts", "sae_blend_repel_pipeline", "steer_pipeline", "supported_classes",
    "train_safety_sae",
]
