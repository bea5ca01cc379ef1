"""Intervention sites inside a DiT: which blocks to steer, parsed from a short text spec.

A site is ``(kind, index)`` with kind ``"double"`` (two-stream / joint blocks; also the only block
stack of single-stack models such as Wan, LTXV, SD3 and Qwen-Image) or ``"single"`` (Flux-style
single-stream blocks). Spec grammar, comma separated, ranges inclusive:

    all                     every block of every kind
    double | single         every block of that kind
    double:0-18             blocks 0..18
    single:10-              block 10 to the last one
    single:-4               blocks 0..4 (a range with no start)
    double:3, single:7      single blocks
    blocks:2-5              alias of double (the name single-stack models use)
"""

from __future__ import annotations

import re
from typing import NamedTuple

from ..errors import SafeSteerError

KINDS: tuple[str, ...] = ("double", "single")
_ALIASES = {"double": "double", "single": "single", "blocks": "double", "block": "double", "joint": "double"}
_ITEM = re.compile(r"^(?P<kind>[a-z_]+)?\s*(?::\s*(?P<range>.+))?$")
_RANGE = re.compile(r"^(?P<a>\d+)?\s*(?P<dash>-)?\s*(?P<b>\d+)?$")


class Site(NamedTuple):
    """One block: ``kind`` is "double" or "single", ``index`` counts from 0 within its kind."""

    kind: str
    index: int

    def __str__(self) -> str:
        return f"{self.kind}:{self.index}"


def _expand(kind: str, text: str | None, count: int, spec: str) -> list[Site]:
    if count == 0:
        raise SafeSteerError(
            f"site spec {spec!r} asks for {kind} blocks but this model has none; "
            f"it has only the other kind (use 'all' or the other kind's name)."
        )
    if text is None:
        return [Site(kind, i) for i in range(count)]
    m = _RANGE.match(text.strip())
    if m is None or (m["a"] is None and m["b"] is None):
        raise SafeSteerError(
            f"cannot read block range {text!r} in site spec {spec!r}; write e.g. '{kind}:3', '{kind}:0-18' or '{kind}:10-'."
        )
    if m["dash"] is None:
        start = stop = int(m["a"])
    else:
        start = int(m["a"]) if m["a"] is not None else 0
        stop = int(m["b"]) if m["b"] is not None else count - 1
    if start > stop:
        raise SafeSteerError(f"block range {text!r} in site spec {spec!r} is empty (start after end).")
    if stop >= count:
        raise SafeSteerError(
            f"site spec {spec!r} asks for {kind} block {stop}, but this model has {count} {kind} blocks "
            f"(indices 0-{count - 1})."
        )
    return [Site(kind, i) for i in range(start, stop + 1)]


def parse_sites(spec: str, num_double: int, num_single: int = 0) -> tuple[Site, ...]:
    """Parse a site spec for a model with ``num_double`` double and ``num_single`` single blocks.

    Returns the sites in execution order (double blocks first, then single), without duplicates.
    Raises SafeSteerError naming the problem and the model's block counts.
    """
    counts = {"double": num_double, "single": num_single}
    text = (spec or "").strip().lower()
    if not text:
        raise SafeSteerError("the site spec is empty; write 'all', 'double:0-18', 'single:10-20' or a list of these.")
    chosen: set[Site] = set()
    for raw in text.split(","):
        item = raw.strip()
        if not item:
            continue
        if item == "all":
            chosen.update(Site(k, i) for k in KINDS for i in range(counts[k]))
            continue
        m = _ITEM.match(item)
        kind_name = m["kind"] if m else None
        if m is None or kind_name is None or kind_name not in _ALIASES:
            raise SafeSteerError(
                f"cannot read {item!r} in site spec {spec!r}; items are 'all', 'double', 'single', "
                f"'double:A-B' or 'single:A-B' (this model: {num_double} double, {num_single} single blocks)."
            )
        kind = _ALIASES[kind_name]
        chosen.update(_expand(kind, m["range"], counts[kind], spec))
    if not chosen:
        raise SafeSteerError(f"site spec {spec!r} selects no blocks.")
    return tuple(sorted(chosen, key=lambda s: (KINDS.index(s.kind), s.index)))


def sae_site(key: str, num_double: int, num_single: int, model: str) -> Site:
    """The one block a Safety SAE's site key names, e.g. ``"double:3"``.

    ``model`` describes the host's model in messages (``"Flux model"``, ``"FluxTransformer2DModel
    transformer"``); a key this model lacks, or one naming several blocks, is a clear error.
    """
    try:
        found = parse_sites(key, num_double, num_single)
    except SafeSteerError as exc:
        raise SafeSteerError(f"the Safety SAE has an SAE at {key!r}, which this {model} "
                             f"({num_double} double / {num_single} single blocks) does not have: {exc}") from exc
    if len(found) != 1:
        raise SafeSteerError(f"Safety SAE site key {key!r} names {len(found)} blocks; it must name exactly one.")
    return found[0]
