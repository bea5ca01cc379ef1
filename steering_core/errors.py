"""Errors raised by steering_core.

Every error says what is wrong and how to fix it. They all derive from
:class:`SafeSteerError` so a host (a ComfyUI node, a script) can catch one type
and show the message to the user without crashing.
"""

from __future__ import annotations


def printable(text: object, limit: int = 300, newlines: bool = True) -> str:
    """``text`` made safe for any log or terminal: lone surrogates (a file name that is not UTF-8, as
    ``os.listdir`` returns it) become ``\\xNN`` / ``\\uNNNN`` escapes, control characters other than
    newline and tab (and those too unless ``newlines``) are escaped, and anything longer than ``limit``
    characters is cut with ``...``."""
    keep = "\n\t" if newlines else ""
    out = []
    for ch in str(text):
        code = ord(ch)
        if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape)
            out.append(f"\\x{code - 0xDC00:02x}")
        elif 0xD800 <= code <= 0xDFFF or (code < 32 and ch not in keep) or code == 0x7F:
            out.append(f"\\u{code:04x}" if code > 0xFF else f"\\x{code:02x}")
        else:
            out.append(ch)
    shown = "".join(out)
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."


def show_path(path: object) -> str:
    """A file name for messages: escaped as :func:`printable` does and quoted, whatever its bytes."""
    return f"'{printable(path, limit=240, newlines=False)}'"


class SafeSteerError(ValueError):
    """Base class of every error steering_core raises on bad input.

    The message is escaped on construction (:func:`printable`, no length cut), so it can always be
    logged and encoded as UTF-8, whatever file name or user string it quotes.
    """

    def __init__(self, *args: object) -> None:
        super().__init__(*(printable(a, limit=1 << 30) if isinstance(a, str) else a for a in args))


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
