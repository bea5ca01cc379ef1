"""Small input checks shared by the core modules; each raises a SafeSteerError naming the fix."""

from __future__ import annotations

import torch

from .errors import DimensionMismatchError, NonFiniteError, SafeSteerError


def require_finite(tensor: torch.Tensor, what: str) -> None:
    """Raise NonFiniteError if ``tensor`` holds NaN or Inf."""
    # one cheap reduction first: any NaN/Inf makes the sum non-finite (an overflowing sum of finite
    # values only triggers the exact element-wise check below)
    if tensor.is_floating_point() and tensor.numel() and not bool(torch.isfinite(tensor.sum())) \
            and not bool(torch.isfinite(tensor).all()):
        n_bad = int((~torch.isfinite(tensor)).sum())
        raise NonFiniteError(
            f"{what} contains {n_bad} NaN/Inf value(s). Check the model's dtype (fp16 overflow is a common cause) "
            f"or recompute the activations in float32."
        )


def require_ndim(tensor: torch.Tensor, ndims: tuple[int, ...], what: str, shape_doc: str) -> None:
    """Raise SafeSteerError unless ``tensor.ndim`` is one of ``ndims``."""
    if tensor.ndim not in ndims:
        raise SafeSteerError(f"{what} must have shape {shape_doc}, got shape {tuple(tensor.shape)}.")


def require_same_dim(dim_a: int, dim_b: int, what_a: str, what_b: str, hint: str = "") -> None:
    """Raise DimensionMismatchError unless two hidden sizes agree."""
    if dim_a != dim_b:
        msg = f"{what_a} has hidden size {dim_a} but {what_b} has hidden size {dim_b}."
        if hint:
            msg += " " + hint
        raise DimensionMismatchError(msg)


def as_float_tensor(x: object, what: str) -> torch.Tensor:
    """Convert numpy arrays / lists to a floating torch tensor (float32 unless already floating)."""
    if isinstance(x, torch.Tensor):
        t = x
    else:
        try:
            t = torch.as_tensor(x)
        except Exception as exc:  # noqa: BLE001 - any conversion failure is a user input error
            raise SafeSteerError(f"{what} must be a tensor or array, got {type(x).__name__}.") from exc
    if not t.is_floating_point():
        t = t.to(torch.float32)
    return t
