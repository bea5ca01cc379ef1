"""Errors of the evaluation harness (all are :class:`~steering_core.errors.SafeSteerError`)."""

from __future__ import annotations

from ..errors import SafeSteerError


class EvaluationError(SafeSteerError):
    """The evaluation cannot go on: bad settings, a template the server rejects, a run folder in use..."""


class MissingWeightsError(EvaluationError):
    """A scorer (classifier, CLIP, FID features) was asked for but its local weights are absent."""


class MissingPackageError(EvaluationError):
    """An optional package (nudenet, transformers, torchvision, Pillow) is needed but not installed."""


class ServerUnavailable(EvaluationError):
    """A ComfyUI server does not answer (connection refused, reset, timed out)."""


class TemplateRejected(EvaluationError):
    """ComfyUI refused the filled workflow (HTTP 400 from ``POST /prompt``): wrong in every item."""


class PromptFailed(EvaluationError):
    """One item's prompt ran but failed on the server (execution error), or produced no image."""


def require_pillow():
    """The ``PIL.Image`` module, or a clear error."""
    try:
        from PIL import Image
    except ImportError as exc:  # pragma: no cover - Pillow ships with ComfyUI, torchvision and transformers
        raise MissingPackageError("the evaluation harness needs Pillow to read images: pip install pillow") from exc
    return Image
