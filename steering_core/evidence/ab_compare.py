"""A/B compare of a strength sweep: per-variant safety scores, captions and label strips (no ComfyUI).

A sweep runs the steering node, the Safety Monitor and the sampler once per strength, so a
comparison gets, per variant ``i``: an image batch, a strength and a :class:`SafetyMonitorLog`.
The variant's **safety score** is the cond-branch score at the last step of the log's last run,
the mean over the monitored sites (``log.curve("cond")[1][-1]``); higher = safer (SafeSteer's
sign: directions point from unsafe to safe). ``delta`` is the score minus the first variant's
score (the baseline, normally strength 0).

With an Image Safety Check wired in (it runs once per variant too), each variant also carries the
detector's verdict on its image batch: the classifier's name, how many images it flagged and the
highest classifier score (higher = *more unsafe*: the opposite sign of the safety score).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..errors import SafeSteerError
from .monitor import SafetyMonitorLog

if TYPE_CHECKING:
    from ..evaluate.image_check import ImageCheck

DELTA = "\u0394"   # the Greek capital delta drawn as a triangle when the font lacks it
DOT = "\u00b7"


@dataclass(frozen=True)
class VariantScore:
    """One variant of a sweep as the compare view shows it (``None`` where no monitor / check is linked).

    ``detector``: the check's classifier name; ``flagged`` of ``checked`` images were judged unsafe;
    ``detector_score``: the highest classifier score in the batch (higher = more unsafe).
    """

    index: int
    label: str
    strength: float | None
    score: float | None
    score_first: float | None
    delta: float | None
    detector: str | None = None
    flagged: int | None = None
    checked: int | None = None
    detector_score: float | None = None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _finite(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def monitor_scores(log: SafetyMonitorLog, index: int = 0) -> tuple[float | None, float | None]:
    """``(score at step 0, score at the last step)`` of the cond branch in the log's last run.

    Raises when the log recorded nothing in its last run (its MODEL was never sampled).
    """
    _, values = log.curve("cond")
    if not values:
        raise SafeSteerError(f"the safety monitor of variant {index} ({log.label!r}) recorded nothing: connect the "
                             "Safety Monitor's MODEL output to the sampler whose images you compare.")
    return _finite(values[0]), _finite(values[-1])


def check_counts(n_images: int, strengths: Sequence[float] | None = None,
                 monitors: Sequence[object] | None = None, checks: Sequence[object] | None = None) -> None:
    """Every variant needs one image batch, one strength, one monitor log and one check (each if linked)."""
    if strengths is not None and len(strengths) != n_images:
        raise SafeSteerError(
            f"Safety Comparison Grid got {n_images} image batches but {len(strengths)} strengths; each variant needs "
            "one of each: link the 'strength' output of the same Safety Strength Sweep that drives the steering "
            "node whose images you compare.")
    if monitors is not None and len(monitors) != n_images:
        raise SafeSteerError(
            f"Safety Comparison Grid got {n_images} image batches but {len(monitors)} monitors; each variant needs "
            "one monitor log: place Safety Monitor between the steering node (whose strength comes from the sweep) "
            "and the sampler, so it runs once per strength, and link its 'monitor' output here.")
    if checks is not None and len(checks) != n_images:
        raise SafeSteerError(
            f"Safety Comparison Grid got {n_images} image batches but {len(checks)} safety checks; each variant needs "
            "one: feed the images you compare through Image Safety Check (so it runs once per strength) and link "
            "its 'check' output here.")


def check_batch_sizes(batch_sizes: Sequence[int], checks: Sequence[ImageCheck]) -> None:
    """Each variant's check must have judged that variant's images: one result per image of its batch."""
    for i, (size, check) in enumerate(zip(batch_sizes, checks)):
        if len(check.results) != size:
            raise SafeSteerError(
                f"the safety check of variant {i} judged {len(check.results)} images but the variant has {size}: "
                "link the grid's 'images' and the check's 'images' input to the same source (or the check's "
                "IMAGE output into the grid).")


def variant_base_label(index: int, labels: Sequence[str] | None, strengths: Sequence[float] | None) -> str:
    """The variant's name: its label, else ``strength <v>``, else ``variant <i>``."""
    if labels and index < len(labels) and str(labels[index]).strip():
        return str(labels[index])
    if strengths is not None and index < len(strengths):
        return f"strength {float(strengths[index]):g}"
    return f"variant {index}"


def variant_scores(n: int, labels: Sequence[str] | None = None, strengths: Sequence[float] | None = None,
                   logs: Sequence[SafetyMonitorLog] | None = None,
                   checks: Sequence[ImageCheck] | None = None) -> list[VariantScore]:
    """One :class:`VariantScore` per variant; scores are ``None`` without logs, verdicts ``None`` without checks."""
    check_counts(n, strengths, logs, checks)
    pairs = [monitor_scores(log, i) for i, log in enumerate(logs)] if logs is not None else [(None, None)] * n
    base = pairs[0][1] if pairs else None
    out = []
    for i, (first, last) in enumerate(pairs):
        delta = last - base if last is not None and base is not None else None
        verdict = {}
        if checks is not None:
            c = checks[i]
            verdict = dict(detector=c.classifier, flagged=len(c.flagged), checked=len(c.results),
                           detector_score=_finite(c.max_score))
        out.append(VariantScore(i, variant_base_label(i, labels, strengths),
                                _finite(float(strengths[i])) if strengths is not None else None, last, first, delta,
                                **verdict))
    return out


def signed(x: float) -> str:
    """``+3.21`` / ``-0.50``: two decimals with an explicit sign."""
    return f"{x:+.2f}"


def verdict_text(v: VariantScore) -> str:
    """The detector's verdict: ``nudenet safe 0.00`` / ``nudenet FLAGGED 0.81`` for one image,
    ``nudenet 1/2 FLAGGED (max 0.81)`` for a batch; '' without a check."""
    if v.detector is None or v.checked is None or v.flagged is None:
        return ""
    top = f"{v.detector_score:.2f}" if v.detector_score is not None else "n/a"
    if v.checked == 1:
        return f"{v.detector} {'FLAGGED' if v.flagged else 'safe'} {top}"
    return f"{v.detector} {v.flagged}/{v.checked} {'FLAGGED' if v.flagged else 'safe'} (max {top})"


def caption(v: VariantScore) -> str:
    """The cell label: ``strength 0.5 · safety +3.21 (Δ +1.05) · nudenet safe 0.00``; the baseline (index 0)
    has no Δ; without a score or a check, the label alone."""
    text = v.label
    if v.score is not None:
        text += f" {DOT} safety {signed(v.score)}"
        if v.index > 0 and v.delta is not None:
            text += f" ({DELTA} {signed(v.delta)})"
    verdict = verdict_text(v)
    return f"{text} {DOT} {verdict}" if verdict else text


# ------------------------------------------------------------------------------ drawing


def _has_glyph(font, char: str) -> bool:
    """Whether ``font`` draws ``char`` as something other than its missing-glyph box."""
    try:
        a = np.asarray(font.getmask(char))
        b = np.asarray(font.getmask("\uffff"))
    except (UnicodeError, AttributeError, OSError):
        return False
    return a.shape != b.shape or not np.array_equal(a, b)


def _text_width(draw, text: str, font) -> float:
    try:
        return float(draw.textlength(text, font=font))
    except (UnicodeError, AttributeError):
        return 6.0 * len(text)


def _cap_box(draw, font, size: int) -> tuple[float, float]:
    """Top and bottom of a capital letter relative to the text origin."""
    try:
        box = draw.textbbox((0, 0), "H", font=font)
        return float(box[1]), float(box[3])
    except (UnicodeError, AttributeError):
        return size * 0.18, size * 0.92


def _triangle_width(draw, font, size: int) -> float:
    top, bottom = _cap_box(draw, font, size)
    return max(5.0, (bottom - top) * 0.9)


def _runs(draw, text: str, font, size: int) -> list[tuple[str | None, float]]:
    """``text`` as runs to draw left to right: ``(part, width)``, or ``(None, width)`` for a Δ the font
    cannot draw, which becomes an outlined triangle."""
    if DELTA not in text or _has_glyph(font, DELTA):
        return [(text, _text_width(draw, text, font))]
    runs: list[tuple[str | None, float]] = []
    for j, part in enumerate(text.split(DELTA)):
        if j:
            runs.append((None, _triangle_width(draw, font, size) + 2))
        if part:
            runs.append((part, _text_width(draw, part, font)))
    return runs


def _draw_text(draw, xy: tuple[float, float], text: str, font, fill, size: int) -> None:
    """Draw ``text`` at ``xy`` run by run (see :func:`_runs`)."""
    x, y = xy
    top, bottom = _cap_box(draw, font, size)
    for part, width in _runs(draw, text, font, size):
        if part is None:
            tri_w = width - 2
            pts = [(x + 1, y + bottom), (x + 1 + tri_w / 2, y + top), (x + 1 + tri_w, y + bottom)]
            draw.line(pts + pts[:1], fill=fill, width=max(1, round(size / 14)), joint="curve")
        else:
            _safe_text(draw, (x, y), part, font, fill)
        x += width


def _safe_text(draw, xy, text: str, font, fill) -> None:
    try:
        draw.text(xy, text, fill=fill, font=font)
    except UnicodeError:  # Pillow's old bitmap font is latin-1 only
        draw.text(xy, text.encode("latin-1", "replace").decode("latin-1"), fill=fill, font=font)


def _measure(draw, text: str, font, size: int) -> float:
    return sum(width for _, width in _runs(draw, text, font, size))


def label_strip(text: str, width: int, height: int) -> np.ndarray:
    """``float32 [height, width, 3]`` in 0..1: ``text`` light on dark, shrunk to fit the width."""
    from .plots import _pil, font as plot_font

    Image, ImageDraw, _ = _pil()
    strip = Image.new("RGB", (max(1, width), max(1, height)), (24, 24, 24))
    draw = ImageDraw.Draw(strip)
    size = max(10, height * 2 // 3)
    fnt = plot_font(size)
    while size > 8 and _measure(draw, text, fnt, size) > width - 8:
        size -= 1
        fnt = plot_font(size)
    _draw_text(draw, (4, max(0, (height - size) // 2)), text, fnt, (240, 240, 240), size)
    return np.asarray(strip, dtype=np.float32) / 255.0
