"""Load any SafeSteer file by the kind recorded in its metadata."""

from __future__ import annotations

import os
from typing import Callable

from ..alignment.maps import KIND as ALIGNMENT_KIND
from ..alignment.maps import Alignment
from ..directions.direction import KIND as DIRECTION_KIND
from ..directions.direction import SafetyDirection
from ..errors import SafeSteerFileError
from .format import peek_kind
from ..sae.safety_sae import KIND as SAE_KIND
from ..sae.safety_sae import SafetySAE

_LOADERS: dict[str, Callable[[str | os.PathLike[str]], SafetyDirection | Alignment | SafetySAE]] = {
    DIRECTION_KIND: SafetyDirection.load, ALIGNMENT_KIND: Alignment.load, SAE_KIND: SafetySAE.load}


def load(path: str | os.PathLike[str]) -> SafetyDirection | Alignment | SafetySAE:
    """Load a SafetyDirection, Alignment or SafetySAE file, whichever it holds."""
    kind = peek_kind(path)
    loader = _LOADERS.get(kind)
    if loader is None:
        raise SafeSteerFileError(f"{path} holds a {kind!r}, which this SafeSteer version cannot load; update SafeSteer.")
    return loader(path)
