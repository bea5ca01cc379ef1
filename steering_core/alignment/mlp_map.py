"""Small MLP alignment map (Linear -> ReLU -> Linear), as in the activation-transfer paper.

Hidden width defaults to ``round(sqrt(Ds * Dt))`` (Oozeer et al., ICML 2025). Trained with Adam
on MSE between predicted and real centred target anchors; inputs and outputs are divided by
their RMS so one learning rate suits any activation scale. Early stopping uses a validation
split carved from the training anchors (never from the held-out anchors used for R^2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from ..errors import SafeSteerError


def default_hidden(source_dim: int, target_dim: int) -> int:
    return max(1, round(math.sqrt(source_dim * target_dim)))


class MLPMap(nn.Module):
    """``y = fc2(relu(fc1(x / in_scale))) * out_scale`` for centred ``x [..., Ds]`` -> ``[..., Dt]``."""

    def __init__(self, source_dim: int, target_dim: int, hidden: int, in_scale: float = 1.0, out_scale: float = 1.0):
        super().__init__()
        self.fc1 = nn.Linear(source_dim, hidden)
        self.fc2 = nn.Linear(hidden, target_dim)
        self.in_scale = float(in_scale)
        self.out_scale = float(out_scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.relu(self.fc1(x / self.in_scale))) * self.out_scale


@dataclass(frozen=True)
class MLPTrainConfig:
    """Training settings for the MLP map."""

    hidden: int | None = None
    epochs: int = 500
    lr: float = 1e-3
    batch_size: int = 256
    weight_decay: float = 0.0
    val_fraction: float = 0.1
    patience: int = 50
    seed: int = 0


def _rms(x: torch.Tensor) -> float:
    value = float(x.pow(2).mean().sqrt())
    return value if value > 0 else 1.0


def train_mlp_map(xc: torch.Tensor, yc: torch.Tensor, config: MLPTrainConfig) -> tuple[MLPMap, dict[str, float]]:
    """Fit an :class:`MLPMap` on centred anchors ``xc [N, Ds]``, ``yc [N, Dt]`` (float32)."""
    n, ds = xc.shape
    dt = yc.shape[1]
    if n < 4:
        raise SafeSteerError(f"the MLP map needs at least 4 training anchors, got {n}.")
    gen = torch.Generator(device="cpu").manual_seed(config.seed)
    torch_state = torch.random.get_rng_state()
    torch.manual_seed(config.seed)
    try:
        model = MLPMap(ds, dt, config.hidden or default_hidden(ds, dt), _rms(xc), _rms(yc)).to(xc.device, torch.float32)
    finally:
        torch.random.set_rng_state(torch_state)
    perm = torch.randperm(n, generator=gen).to(xc.device)
    n_val = int(round(config.val_fraction * n)) if n >= 20 else 0
    val_idx, train_idx = perm[:n_val], perm[n_val:]
    x_tr, y_tr = xc[train_idx].float(), yc[train_idx].float()
    x_val, y_val = xc[val_idx].float(), yc[val_idx].float()
    optimiser = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    out_scale = model.out_scale
    best_loss, best_state, stale, epochs_run = math.inf, None, 0, 0
    batch = max(1, min(config.batch_size, x_tr.shape[0]))
    for epoch in range(config.epochs):
        epochs_run = epoch + 1
        order = torch.randperm(x_tr.shape[0], generator=gen).to(xc.device)
        model.train()
        for start in range(0, x_tr.shape[0], batch):
            idx = order[start:start + batch]
            loss = ((model(x_tr[idx]) - y_tr[idx]) / out_scale).pow(2).mean()
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
        model.eval()
        with torch.no_grad():
            xs, ys = (x_val, y_val) if n_val else (x_tr, y_tr)
            monitor = float(((model(xs) - ys) / out_scale).pow(2).mean())
        if monitor < best_loss - 1e-7:
            best_loss, stale = monitor, 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            stale += 1
            if stale >= config.patience:
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model, {"epochs_run": epochs_run, "best_monitor_mse": best_loss, "validation_anchors": n_val}
