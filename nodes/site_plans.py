"""Per-site token plans for ``dit_patch.install``: SAE Blend/Repel and activation recording."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

import torch

from steering_core.dit_steering import cond_row_mask
from steering_core.sites import Site


def _rows_index(rows: torch.Tensor) -> torch.Tensor | None:
    """None when every row is selected (no gather needed), else the selected row indices."""
    return None if bool(rows.all()) else rows.nonzero().reshape(-1)


class _SiteEdit:
    """Runs one site's token editor on the selected rows of a token span."""

    def __init__(self, edit: Callable[[torch.Tensor], torch.Tensor], rows: torch.Tensor | None):
        self.edit = edit
        self.rows = rows

    def apply(self, tokens: torch.Tensor, start: int = 0, stop: int | None = None) -> torch.Tensor:
        stop = tokens.shape[1] if stop is None else stop
        if stop <= start:
            return tokens
        seg = tokens[:, start:stop] if self.rows is None else tokens[self.rows.to(tokens.device), start:stop]
        new = self.edit(seg)
        if new is seg:
            return tokens
        out = tokens.clone()
        if self.rows is None:
            out[:, start:stop] = new
        else:
            out[self.rows.to(tokens.device), start:stop] = new
        return out


class _Passthrough:
    def apply(self, tokens: torch.Tensor, start: int = 0, stop: int | None = None) -> torch.Tensor:
        return tokens


_PASS = _Passthrough()


@dataclass
class SiteCallPlan:
    """One call's plan: an editor per site, applied to the steered rows only."""

    editors: Mapping[Site, Callable[[torch.Tensor], torch.Tensor]]
    rows: torch.Tensor | None

    def for_site(self, site: Site) -> Any:
        editor = self.editors.get(site)
        return _PASS if editor is None else _SiteEdit(editor, self.rows)

    def apply(self, tokens: torch.Tensor, start: int = 0, stop: int | None = None) -> torch.Tensor:
        return tokens  # every site asks through for_site


class SitePlanner:
    """A :class:`~nodes.dit_patch.CallPlanner` running a token editor ``[N, T, H] -> [N, T, H]`` per site.

    ``editors`` maps each site to a callable that returns its input object itself when it changes
    nothing (so untouched blocks cost no copy). ``cond_only`` leaves the unconditional rows of CFG alone.
    ``expects`` is the no-op policy of :func:`nodes.dit_patch.install`: "may_edit" for data-dependent
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
