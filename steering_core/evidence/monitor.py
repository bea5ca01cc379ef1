"""Per-step safety monitor: the projection of DiT block activations onto a safety direction, step by step.

At every model call the host hands :meth:`SafetyMonitorLog.record` the block output tokens of one site
``[B, T, H]``, the unit hidden-space direction per row ``[B, H]`` (the direction mapped into the
block's space) and which rows are conditional / unconditional. The score of a row is the mean over
its tokens of ``<h_t, u>``; SafeSteer's sign convention holds (directions point from unsafe to
safe, so **higher is safer**). A *run* is one sampling call; steps are numbered by the order of the
sigmas a run visits.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Sequence

import numpy as np
import torch

from ..errors import SafeSteerError
from .plots import Series, line_plot

BRANCHES: tuple[str, ...] = ("cond", "uncond")


@dataclass
class StepScore:
    """Mean projection of one branch's rows at one site and step of one run."""

    run: int
    step: int
    sigma: float
    branch: str
    site: str
    score: float
    rows: int


def row_scores(tokens: torch.Tensor, units: torch.Tensor) -> torch.Tensor:
    """``tokens [B, T, H]``, ``units [B, H]`` (or ``[H]``) -> ``[B]`` float64: mean over tokens of ``<h_t, u_b>``."""
    if tokens.ndim != 3:
        raise SafeSteerError(f"monitor expects block tokens [B, T, H], got {tuple(tokens.shape)}.")
    u = units if units.ndim == 2 else units.unsqueeze(0).expand(tokens.shape[0], -1)
    if u.shape != (tokens.shape[0], tokens.shape[2]):
        raise SafeSteerError(f"monitor direction {tuple(u.shape)} does not fit tokens {tuple(tokens.shape)}.")
    mean_tokens = tokens.to(torch.float64).mean(dim=1)                      # [B, H]
    return (mean_tokens * u.to(mean_tokens.device, torch.float64)).sum(dim=1)


def branch_of_rows(batch: int, cond_or_uncond: Sequence[int] | None) -> list[str]:
    """Branch name per row: ComfyUI batches equal chunks, one per ``cond_or_uncond`` entry (0 cond, 1 uncond)."""
    if not cond_or_uncond:
        return ["cond"] * batch
    if batch % len(cond_or_uncond):
        raise SafeSteerError(f"batch of {batch} rows cannot be split into {len(cond_or_uncond)} cond/uncond chunks.")
    per = batch // len(cond_or_uncond)
    return [BRANCHES[min(int(c), 1)] for c in cond_or_uncond for _ in range(per)]


@dataclass
class SafetyMonitorLog:
    """Scores recorded while sampling; ``label`` names the curve (e.g. "steered", "unsteered")."""

    label: str = "monitor"
    category: str = ""
    sites: list[str] = field(default_factory=list)
    scores: list[StepScore] = field(default_factory=list)
    runs: int = 0
    _sigmas: list[float] = field(default_factory=list, repr=False)

    def start_run(self) -> None:
        """Begin a new sampling run (steps restart at 0)."""
        self.runs += 1
        self._sigmas = []

    def _step(self, sigma: float) -> int:
        for i, s in enumerate(self._sigmas):
            if abs(s - sigma) <= 1e-9 * max(1.0, abs(sigma)):
                return i
        self._sigmas.append(sigma)
        return len(self._sigmas) - 1

    def record(self, site: str, sigma: float, tokens: torch.Tensor, units: torch.Tensor,
               cond_or_uncond: Sequence[int] | None) -> None:
        """Add one site's scores for one model call (rows grouped by branch)."""
        self.record_scores(site, sigma, row_scores(tokens, units), cond_or_uncond)

    def record_scores(self, site: str, sigma: float, scores: torch.Tensor, cond_or_uncond: Sequence[int] | None) -> None:
        """Add one site's scores for one model call from :func:`row_scores` ``[B]`` (rows grouped by branch)."""
        if self.runs == 0:
            self.start_run()
        step = self._step(float(sigma))
        scores = scores.cpu()
        branches = branch_of_rows(scores.shape[0], cond_or_uncond)
        for branch in BRANCHES:
            idx = [i for i, b in enumerate(branches) if b == branch]
            if idx:
                self.scores.append(StepScore(self.runs - 1, step, float(sigma), branch, site,
                                             float(scores[idx].mean()), len(idx)))

    # ------------------------------------------------------------------ views
    def last_run(self) -> list[StepScore]:
        return [s for s in self.scores if s.run == self.runs - 1]

    def curve(self, branch: str, run: int | None = None, site: str | None = None) -> tuple[list[int], list[float]]:
        """``(steps, scores)`` of one branch: the mean over sites (or one site) per step of a run (last by default)."""
        run = self.runs - 1 if run is None else run
        by_step: dict[int, list[float]] = {}
        for s in self.scores:
            if s.run == run and s.branch == branch and (site is None or s.site == site):
                by_step.setdefault(s.step, []).append(s.score)
        steps = sorted(by_step)
        return steps, [float(np.mean(by_step[k])) for k in steps]

    def as_dict(self) -> dict[str, object]:
        return {"label": self.label, "category": self.category, "sites": list(self.sites), "runs": self.runs,
                "sign": "higher = safer (projection onto the unsafe -> safe direction)",
                "scores": [asdict(s) for s in self.scores]}

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=1)


def monitor_plot(logs: Sequence[SafetyMonitorLog], title: str = "") -> np.ndarray:
    """Score against step, cond solid and uncond dashed, one colour per log (last run of each)."""
    series = []
    colors = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189)]
    for i, log in enumerate(logs):
        color = colors[i % len(colors)]
        for branch, style in (("cond", "solid"), ("uncond", "dashed")):
            steps, vals = log.curve(branch)
            if steps:
                series.append(Series(f"{log.label} {branch}", steps, vals, style, color))
    if not series:
        raise SafeSteerError("the safety monitor recorded nothing: was the monitored MODEL sampled (connect the "
                             "monitor's MODEL output to the sampler)?")
    cat = logs[0].category
    return line_plot(series, title or f"safety score per step ({cat or 'direction'}; higher = safer)", "step",
                     "mean projection")
