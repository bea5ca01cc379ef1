"""Load any SafeSteer file by the kind recorded in its metadata."""

from __future__ import annotations

import os
from typing import Callable

from .alignment import KIND as ALIGNMENT_KIND
from .alignment import Alignment
from .direction import KIND as DIRECTION_KIND
from .direction import SafetyDirection
from .errors import SafeSteerFileError
from .fileformat import peek_kind

_LOADERS: dict[str, Callable[[str | os.PathLike[str]], SafetyDirection | Alignment]] = {DIRECTION_KIND: SafetyDirection.load, ALIGNMENT_KIND: Alignment.load}


def load(path: str | os.PathLike[str]) -> SafetyDirection | Alignment:
    """Load a SafetyDirection or Alignment file, whichever it holds."""
    kind = peek_kind(path)
    loader = _LOADERS.get(kind)
    if loader is None:
        raise SafeSteerFileError(f"{path} holds a {kind!r}, which this SafeSteer version cannot load; update SafeSteer.")
    return loader(path)
