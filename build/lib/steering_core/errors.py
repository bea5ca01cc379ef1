"""Errors raised by steering_core.

Every error says what is wrong and how to fix it. They all derive from
:class:`SafeSteerError` so a host (a ComfyUI node, a script) can catch one type
and show the message to the user without crashing.
"""

from __future__ import annotations


class SafeSteerError(ValueError):
    """Base class of every error steering_core raises on bad input."""


class DimensionMismatchError(SafeSteerError):
    """Two things that must share a hidden size do not (a direction and a model, a map and a direction)."""


class NonFiniteError(SafeSteerError):
    """A tensor holds NaN or Inf values."""


class SafeSteerFileError(SafeSteerError):
    """A file cannot be read as a SafeSteer file (not safetensors, truncated, missing keys, bad metadata)."""


class WrongFileKindError(SafeSteerFileError):
    """A SafeSteer file of another kind was given (an Alignment where a SafetyDirection is expected, say)."""


class PromptDataError(SafeSteerError):
    """A prompt list or prompt-pair file is empty or malformed."""
