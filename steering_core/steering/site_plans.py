"""Per-call token plans shared by every host (ComfyUI's ``nodes/dit_patch.install``, diffusers' hooks).

A *planner* makes one plan per model call (``prepare_call(x, sigma, context, cond_or_uncond)``); a
plan edits a block's tokens with ``apply(tokens [B, T, H], start, stop)``, or gives each site its own
plan through ``for_site(site)``; hosts call a plan's ``finish()``, where it has one, after the model call.
Hosts edit through :func:`apply_plan`, which also says whether a token changed: a plan's ``apply_flagged``
returns that flag as a 0-d tensor where telling would need a host read (under torch.compile, on an
accelerator), and hosts sum those flags after the call (their no-silent-no-op reports), never inside it.

Here: a direction (:class:`DirectionPlanner`), a token editor per site (:class:`SitePlanner`: SAE
Blend/Repel), activation recording (:class:`ActivationRecorder`) and the safety monitor
(:class:`MonitorPlanner`). ``cond_or_uncond`` is ComfyUI's per-chunk list (0 = cond, 1 = uncond); hosts
without one build it (see ``steering_core.diffusers``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

import torch

from .dit import CallPlan, DiTSteerer, Touched, cond_row_mask
from ..evidence.monitor import SafetyMonitorLog, row_scores
from .sites import Site


def _rows_index(rows: torch.Tensor) -> torch.Tensor | None:
    """None when every row is selected (no gather needed), else the selected row indices."""
    return None if bool(rows.all()) else rows.nonzero().reshape(-1)


def _flagged(owner: Any, call: Callable[..., torch.Tensor], tokens: torch.Tensor,
             *span: int | None) -> tuple[torch.Tensor, Touched]:
    """``(call(tokens, *span), touched)``: ``owner.apply_flagged(tokens, *span)`` where it has one, else whether
    ``call`` returned a new tensor (:data:`~.dit.Touched`)."""
    flagged = getattr(owner, "apply_flagged", None)
    if callable(flagged):
        return flagged(tokens, *span)
    new = call(tokens, *span)
    return new, new is not tokens


def apply_plan(plan: Any, tokens: torch.Tensor, start: int = 0,
               stop: int | None = None) -> tuple[torch.Tensor, Touched]:
    """``(plan.apply(tokens, start, stop), touched)`` for any token plan: its own ``apply_flagged`` where it has
    one, else ``touched`` is whether ``apply`` returned a new tensor (:data:`~.dit.Touched`)."""
    return _flagged(plan, plan.apply, tokens, start, stop)


def either(a: Touched, b: Touched) -> Touched:
    """Whether either of two edits touched a token, with no host read of a tensor flag."""
    if a is True or b is True:
        return True
    if a is False or b is False:
        return b if a is False else a
    return a | b


class _SiteEdit:
    """Runs one site's token editor on the selected rows of a token span."""

    def __init__(self, edit: Callable[[torch.Tensor], torch.Tensor], rows: torch.Tensor | None):
        self.edit = edit
        self.rows = rows

    def apply(self, tokens: torch.Tensor, start: int = 0, stop: int | None = None) -> torch.Tensor:
        return self.apply_flagged(tokens, start, stop)[0]

    def apply_flagged(self, tokens: torch.Tensor, start: int = 0,
                      stop: int | None = None) -> tuple[torch.Tensor, Touched]:
        """``(edited tokens [B, T, H], touched)``; ``tokens`` itself and False when the editor changed nothing."""
        stop = tokens.shape[1] if stop is None else stop
        if stop <= start:
            return tokens, False
        seg = tokens[:, start:stop] if self.rows is None else tokens[self.rows.to(tokens.device), start:stop]
        new, touched = _flagged(self.edit, self.edit, seg)  # SAE Blend/Repel flags; recorders return their input
        if new is seg:
            return tokens, False
        out = tokens.clone()
        if self.rows is None:
            out[:, start:stop] = new
        else:
            out[self.rows.to(tokens.device), start:stop] = new
        return out, touched


class _Passthrough:
    def apply(self, tokens: torch.Tensor, start: int = 0, stop: int | None = None) -> torch.Tensor:
        return tokens


_PASS = _Passthrough()


@dataclass
class SiteCallPlan:
    """One call's plan: an editor per site, applied to the steered rows only."""

    editors: Mapping[Site, Callable[[torch.Tensor], torch.Tensor]]
    rows: torch.Tensor | None
    after: Callable[[], None] | None = None

    def finish(self) -> None:
        """Called by the host once the model call has returned, outside any compiled region: host reads
        that the editors deferred (see :class:`MonitorPlanner`)."""
        if self.after is not None:
            self.after()

    def for_site(self, site: Site) -> Any:
        editor = self.editors.get(site)
        return _PASS if editor is None else _SiteEdit(editor, self.rows)

    def apply(self, tokens: torch.Tensor, start: int = 0, stop: int | None = None) -> torch.Tensor:
        return tokens  # every site asks through for_site


class SitePlanner:
    """A planner running a token editor ``[N, T, H] -> [N, T, H]`` per site.

    ``editors`` maps each site to a callable that returns its input object itself when it changes
    nothing (so untouched blocks cost no copy); one with ``apply_flagged(x) -> (new, touched)`` (SAE
    Blend/Repel) also says whether it changed a token where a new tensor does not tell (under torch.compile). ``cond_only`` leaves the unconditional rows of CFG alone.
    ``expects`` is the no-op policy of the host's patch installer: "may_edit" for data-dependent
    editors (SAE features), "observe" for recorders.
    """

    def __init__(self, editors: Mapping[Site, Callable[[torch.Tensor], torch.Tensor]], cond_only: bool,
                 identity: bool = False, expects: str = "may_edit"):
        self.editors = dict(editors)
        self.cond_only = cond_only
        self._identity = identity
        self.expects = expects

    @property
    def is_identity(self) -> bool:
        return self._identity or not self.editors

    def prepare_call(self, x: torch.Tensor, sigma: float, context: torch.Tensor | None,
                     cond_or_uncond: list[int] | None) -> SiteCallPlan | None:
        rows = cond_row_mask(int(x.shape[0]), cond_or_uncond, self.cond_only)
        if not bool(rows.any()):
            return None
        return SiteCallPlan(self.editors, _rows_index(rows))


class ActivationRecorder:
    """Token editor that records what it sees and changes nothing.

    ``sink(site, tokens [N, T, H], call_index)`` receives a detached float32 CPU copy of the span
    for each recorded site; ``call_index`` counts model calls (sampling steps at CFG 1).
    """

    def __init__(self, sites: tuple[Site, ...], sink: Callable[[Site, torch.Tensor, int], None]):
        self.sites = sites
        self.sink = sink
        self.calls = 0

    def planner(self, cond_only: bool = True) -> SitePlanner:
        recorder = self

        class _Planner(SitePlanner):
            def prepare_call(self, x: torch.Tensor, sigma: float, context: torch.Tensor | None,
                             cond_or_uncond: list[int] | None) -> SiteCallPlan | None:
                plan = super().prepare_call(x, sigma, context, cond_or_uncond)
                recorder.calls += 1
                return plan

        return _Planner({site: self._editor(site) for site in self.sites}, cond_only, expects="observe")

    def _editor(self, site: Site) -> Callable[[torch.Tensor], torch.Tensor]:
        def record(tokens: torch.Tensor) -> torch.Tensor:
            self.sink(site, tokens.detach().to("cpu", torch.float32), self.calls - 1)
            return tokens

        return record


class DirectionPlanner:
    """A :class:`DiTSteerer` (one direction for every site) as a planner.

    ``project`` is the model's text input projection ``[.., C] -> [.., H]`` (None for hidden-space
    directions); ``project_is_linear`` whether it is affine. ``expects`` (the host's no-op policy):
    every reached site must change in ``add`` mode; gated and project_out edits depend on the data.
    """

    def __init__(self, steerer: DiTSteerer, project: Callable[[torch.Tensor], torch.Tensor] | None,
                 project_is_linear: bool):
        self.steerer, self.project, self.project_is_linear = steerer, project, project_is_linear
        self.expects = "edit" if steerer.config.mode == "add" else "may_edit"

    @property
    def is_identity(self) -> bool:
        return self.steerer.is_identity

    def prepare_call(self, x: torch.Tensor, sigma: float, context: torch.Tensor | None,
                     cond_or_uncond: list[int] | None) -> CallPlan:
        return self.steerer.prepare(batch=int(x.shape[0]), context=context, cond_or_uncond=cond_or_uncond,
                                    project=self.project, project_is_linear=self.project_is_linear, device=x.device)


class MonitorPlanner:
    """Per call: the hidden-space unit direction per row, then a recording editor per site.

    ``steerer`` is an ``add`` steerer at strength 1 for one category, every row (``cond_only`` off);
    each site records the mean projection of its tokens on ``row_delta / |row_delta|`` into ``log``.
    """

    is_identity = False
    expects = "observe"

    def __init__(self, log: SafetyMonitorLog, steerer: DiTSteerer, project: Callable[[torch.Tensor], torch.Tensor] | None,
                 project_is_linear: bool, sites: tuple[Site, ...]):
        self.log, self.steerer, self.sites = log, steerer, sites
        self.project, self.project_is_linear = project, project_is_linear

    def prepare_call(self, x: torch.Tensor, sigma: float, context: torch.Tensor | None,
                     cond_or_uncond: list[int] | None) -> SiteCallPlan:
        plan = self.steerer.prepare(batch=int(x.shape[0]), context=context, cond_or_uncond=None,
                                    project=self.project, project_is_linear=self.project_is_linear, device=x.device)
        delta = plan.row_delta                                           # [B, H]: strength 1, every row
        units = delta / delta.norm(dim=1, keepdim=True).clamp_min(1e-12)  # type: ignore[union-attr]
        log = self.log
        # under torch.compile the blocks are traced: scores stay tensors in the graph and reach the log in
        # finish(), after the call, so no host read and no per-step value (sigma) enters the graph
        pending: list[tuple[Site, torch.Tensor]] = []

        def editor(site: Site) -> Callable[[torch.Tensor], torch.Tensor]:
            def record(tokens: torch.Tensor) -> torch.Tensor:
                if torch.compiler.is_compiling():
                    pending.append((site, row_scores(tokens, units.to(tokens.device))))
                else:
                    log.record(str(site), sigma, tokens, units.to(tokens.device), cond_or_uncond)
                return tokens
            return record

        def flush() -> None:
            for site, scores in pending:
                log.record_scores(str(site), sigma, scores, cond_or_uncond)
            pending.clear()

        return SiteCallPlan({s: editor(s) for s in self.sites}, None, flush)
