"""Harvest activations from any torch module with forward hooks.

A *site* is a submodule, named by its dotted path in ``module`` (``"blocks.3.mlp"``) or given as
the module itself. For every item, ``run(item)`` runs the model however it needs to (a text
encoder on a prompt, a sampler on a latent); each output of a hooked site during that call is
reduced to rows ``[N, D]`` by ``select(site, output)`` (default: the output, or its first element
when it is a tuple or list, flattened to ``[-1, D]`` with ``D`` its last axis) and

* :func:`harvest` streams the rows straight to the site's :class:`ShardWriter`, tagged with the
  item's labels (``labels_for(item)``: name -> number, repeated on every row of the item);
* :func:`pooled_site_activations` keeps the mean row per item and site in memory (float32
  ``[n_items, D]``, averaged over every row the site produced for that item, across calls).

Hooks are removed in a ``finally``, so the module is left as it was even when ``run`` raises.
``run`` is called under ``torch.no_grad()``; rows are detached and moved to the CPU; nothing here
changes the model's outputs.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping

import torch
from torch import nn

from .activation_shards import ShardWriter
from ..errors import SafeSteerError
from ..validation import require_finite

Select = Callable[[str, Any], torch.Tensor]


def default_select(site: str, output: Any) -> torch.Tensor:
    """The hooked output (its first element if a tuple/list) as rows ``[-1, D]``."""
    if isinstance(output, (tuple, list)):
        if not output:
            raise SafeSteerError(f"site {site!r} returned an empty {type(output).__name__}; pass a select function.")
        output = output[0]
    if not isinstance(output, torch.Tensor) or output.ndim == 0:
        raise SafeSteerError(f"site {site!r} returned {type(output).__name__}, not a tensor with a feature axis; "
                             "pass a select(site, output) function that returns rows [N, D].")
    return output.reshape(-1, output.shape[-1])


def resolve_sites(module: nn.Module, sites: Mapping[str, str | nn.Module]) -> dict[str, nn.Module]:
    """Map site keys to submodules (dotted names are looked up in ``module``)."""
    if not sites:
        raise SafeSteerError("no sites to harvest; give at least one site key -> submodule name.")
    resolved: dict[str, nn.Module] = {}
    for key, target in sites.items():
        if isinstance(target, nn.Module):
            resolved[key] = target
            continue
        try:
            resolved[key] = module.get_submodule(str(target))
        except AttributeError as exc:
            names = [n for n, _ in module.named_modules() if n][:12]
            raise SafeSteerError(f"site {key!r}: the model has no submodule {target!r}; submodule names look like "
                                 f"{', '.join(names) or '(none)'}.") from exc
    return resolved


def _rows(select: Select, site: str, output: Any) -> torch.Tensor:
    rows = select(site, output)
    if not isinstance(rows, torch.Tensor) or rows.ndim != 2:
        raise SafeSteerError(f"select for site {site!r} must return a tensor of shape [N, D], got "
                             f"{tuple(rows.shape) if isinstance(rows, torch.Tensor) else type(rows).__name__}.")
    return rows.detach().to("cpu")


def _run_hooked(module: nn.Module, sites: Mapping[str, str | nn.Module], items: Iterable[Any],
                run: Callable[[Any], None], on_rows: Callable[[str, torch.Tensor], None],
                on_item: Callable[[int, Any], None], after_item: Callable[[int, Any], None],
                select: Select) -> int:
    modules = resolve_sites(module, sites)
    handles = []
    try:
        for key, sub in modules.items():
            def hook(_m: nn.Module, _inp: Any, output: Any, _key: str = key) -> None:
                on_rows(_key, _rows(select, _key, output))
            handles.append(sub.register_forward_hook(hook))
        count = 0
        with torch.no_grad():
            for index, item in enumerate(items):
                on_item(index, item)
                run(item)
                after_item(index, item)
                count += 1
        return count
    finally:
        for h in handles:
            h.remove()


def _label_values(labels_for: Callable[[Any], Mapping[str, float | int | bool]] | None, item: Any) -> dict[str, torch.Tensor]:
    if labels_for is None:
        return {}
    out = {}
    for name, value in labels_for(item).items():
        if isinstance(value, torch.Tensor):
            value = value.item()
        if isinstance(value, (bool, int)):
            out[name] = torch.tensor(int(value), dtype=torch.int64)
        elif isinstance(value, float):
            out[name] = torch.tensor(value, dtype=torch.float32)
        else:
            raise SafeSteerError(f"label {name!r} must be a number (int, bool or float), got {type(value).__name__}.")
    return out


def harvest(module: nn.Module, sites: Mapping[str, str | nn.Module], items: Iterable[Any], run: Callable[[Any], None],
            writers: Mapping[str, ShardWriter], select: Select | None = None,
            labels_for: Callable[[Any], Mapping[str, float | int | bool]] | None = None) -> dict[str, int]:
    """Run ``run(item)`` for every item and stream each hooked site's rows to ``writers[site]``.

    Every row a site produces while ``run(item)`` runs carries ``labels_for(item)`` (a scalar per
    label name, stored once per row). Writers are not closed here (call ``close()`` when done).
    Returns the number of rows written per site.
    """
    missing = [k for k in sites if k not in writers]
    if missing:
        raise SafeSteerError(f"no ShardWriter for site(s) {missing}; give one writer per site key.")
    pick = select or default_select
    current: dict[str, dict[str, torch.Tensor]] = {"labels": {}}
    written = {k: 0 for k in sites}

    def on_rows(site: str, rows: torch.Tensor) -> None:
        require_finite(rows, f"activations at site {site!r}")
        writers[site].add(rows, {k: v.expand(rows.shape[0]) for k, v in current["labels"].items()})
        written[site] += rows.shape[0]

    def on_item(_i: int, item: Any) -> None:
        current["labels"] = _label_values(labels_for, item)

    _run_hooked(module, sites, items, run, on_rows, on_item, lambda _i, _item: None, pick)
    return written


def pooled_site_activations(module: nn.Module, sites: Mapping[str, str | nn.Module], items: Iterable[Any],
                            run: Callable[[Any], None], select: Select | None = None) -> dict[str, torch.Tensor]:
    """Per site, the mean row of each item: float32 ``[n_items, D]`` (mean over every row the site
    produced while ``run(item)`` ran, accumulated in float64). A site that produced no row for an
    item is an error naming both."""
    pick = select or default_select
    sums: dict[str, torch.Tensor | None] = {k: None for k in sites}
    counts = {k: 0 for k in sites}
    pooled: dict[str, list[torch.Tensor]] = {k: [] for k in sites}

    def on_rows(site: str, rows: torch.Tensor) -> None:
        total = rows.to(torch.float64).sum(0)
        prev = sums[site]
        if prev is not None and prev.shape != total.shape:
            raise SafeSteerError(f"site {site!r} produced rows of size {total.shape[0]} after rows of size "
                                 f"{prev.shape[0]}; pass a select function that returns a fixed width.")
        sums[site] = total if prev is None else prev + total
        counts[site] += rows.shape[0]

    def on_item(_i: int, _item: Any) -> None:
        for k in sites:
            sums[k], counts[k] = None, 0

    def after_item(index: int, _item: Any) -> None:
        silent = [k for k in sites if sums[k] is None or counts[k] == 0]
        if silent:
            raise SafeSteerError(f"site(s) {', '.join(map(repr, silent))} produced no activations for item {index}; "
                                 "check that run(item) calls the model and that each site is on its forward path.")
        for k in sites:
            total = sums[k]
            assert total is not None
            pooled[k].append((total / counts[k]).to(torch.float32))

    n = _run_hooked(module, sites, items, run, on_rows, on_item, after_item, pick)
    if n == 0:
        raise SafeSteerError("no items to pool activations over.")
    out = {k: torch.stack(v) for k, v in pooled.items()}
    for k, v in out.items():
        require_finite(v, f"pooled activations at site {k!r}")
    return out
