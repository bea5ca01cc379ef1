"""Small, dependency-light plots for SafeSteer's reports: line charts and grouped bar charts as RGB arrays.

Rendering uses Pillow, imported only when a plot is drawn (it ships with every ComfyUI install and
with torchvision); everything else in steering_core works without it. Arrays are ``uint8 [H, W, 3]``;
:func:`save_png` writes one to disk and :func:`to_comfy_image` turns one into a ComfyUI IMAGE batch.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from ..errors import SafeSteerError

PALETTE: tuple[tuple[int, int, int], ...] = (
    (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
    (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207),
)
DASHES = {"solid": None, "dashed": (8, 5), "dotted": (2, 4)}


@dataclass(frozen=True)
class Series:
    """One line: ``x`` and ``y`` of equal length (NaN y values break the line), drawn ``style``."""

    name: str
    x: Sequence[float]
    y: Sequence[float]
    style: str = "solid"
    color: tuple[int, int, int] | None = None


def _pil():
    try:
        from PIL import Image, ImageDraw, ImageFont
    except ImportError as exc:  # pragma: no cover - Pillow ships with ComfyUI and torchvision
        raise SafeSteerError("drawing a plot needs Pillow (pip install pillow); the numbers are available without it.") from exc
    return Image, ImageDraw, ImageFont


def font(size: int):
    """Pillow's default font at ``size`` pixels (the fixed-size bitmap font on Pillow < 10.1)."""
    _, _, font_mod = _pil()
    try:
        return font_mod.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return font_mod.load_default()


def _nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    if not math.isfinite(lo) or not math.isfinite(hi):
        return [0.0, 1.0]
    if hi <= lo:
        hi = lo + (abs(lo) or 1.0) * 0.1
    raw = (hi - lo) / max(1, count)
    mag = 10 ** math.floor(math.log10(raw))
    step = min((m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw), default=10 * mag)
    start = math.floor(lo / step) * step
    ticks = []
    v = start
    while v <= hi + step * 0.5 and len(ticks) < 50:
        ticks.append(round(v, 10))
        v += step
    return ticks


def _fmt(v: float) -> str:
    return f"{v:.3g}" if abs(v) < 1e4 else f"{v:.2e}"


class _Canvas:
    def __init__(self, width: int, height: int, title: str, xlabel: str, ylabel: str, legend: list[tuple[str, tuple[int, int, int], str]]):
        image_mod, draw_mod, _ = _pil()
        self.img = image_mod.new("RGB", (width, height), (255, 255, 255))
        self.draw = draw_mod.Draw(self.img)
        self.font, self.small = font(15), font(12)
        self.left, self.right, self.top, self.bottom = 70, width - 20, 40 if title else 16, height - 50
        if legend:
            self.right = width - 170
        self.title, self.xlabel, self.ylabel, self.legend = title, xlabel, ylabel, legend

    def frame(self, xticks: list[tuple[float, str]], yticks: list[float], xmap, ymap) -> None:
        d = self.draw
        d.rectangle((self.left, self.top, self.right, self.bottom), outline=(60, 60, 60))
        for v in yticks:
            y = ymap(v)
            if self.top <= y <= self.bottom:
                d.line((self.left, y, self.right, y), fill=(230, 230, 230))
                d.text((self.left - 6, y), _fmt(v), fill=(40, 40, 40), font=self.small, anchor="rm")
        for v, label in xticks:
            x = xmap(v)
            if self.left <= x <= self.right:
                d.line((x, self.bottom, x, self.bottom + 4), fill=(60, 60, 60))
                d.text((x, self.bottom + 6), label, fill=(40, 40, 40), font=self.small, anchor="mt")
        if self.title:
            d.text(((self.left + self.right) / 2, 10), self.title, fill=(0, 0, 0), font=self.font, anchor="mt")
        d.text(((self.left + self.right) / 2, self.bottom + 26), self.xlabel, fill=(0, 0, 0), font=self.small, anchor="mt")
        d.text((8, (self.top + self.bottom) / 2), self.ylabel, fill=(0, 0, 0), font=self.small, anchor="lm")
        for i, (name, color, style) in enumerate(self.legend):
            y = self.top + 8 + 18 * i
            self.line([(self.right + 12, y), (self.right + 40, y)], color, style, 3)
            d.text((self.right + 46, y), name[:18], fill=(0, 0, 0), font=self.small, anchor="lm")

    def line(self, pts: list[tuple[float, float]], color: tuple[int, int, int], style: str, width: int = 2) -> None:
        dash = DASHES.get(style)
        for (x0, y0), (x1, y1) in zip(pts, pts[1:]):
            if dash is None:
                self.draw.line((x0, y0, x1, y1), fill=color, width=width)
                continue
            length = math.hypot(x1 - x0, y1 - y0)
            on, off = dash
            t = 0.0
            while t < length:
                a, b = t / length, min(t + on, length) / length
                self.draw.line((x0 + a * (x1 - x0), y0 + a * (y1 - y0), x0 + b * (x1 - x0), y0 + b * (y1 - y0)),
                               fill=color, width=width)
                t += on + off

    def array(self) -> np.ndarray:
        return np.asarray(self.img, dtype=np.uint8).copy()


def line_plot(series: Sequence[Series], title: str = "", xlabel: str = "", ylabel: str = "",
              width: int = 720, height: int = 400, ylim: tuple[float, float] | None = None) -> np.ndarray:
    """A line chart with markers; ``uint8 [height, width, 3]``."""
    if not series:
        raise SafeSteerError("nothing to plot: no series given.")
    xs = np.concatenate([np.asarray(s.x, dtype=np.float64) for s in series])
    ys = np.concatenate([np.asarray(s.y, dtype=np.float64) for s in series])
    ys = ys[np.isfinite(ys)]
    if xs.size == 0:
        raise SafeSteerError("nothing to plot: the series are empty.")
    x0, x1 = float(xs.min()), float(xs.max())
    if x1 == x0:
        x0, x1 = x0 - 0.5, x1 + 0.5
    y0, y1 = ylim if ylim is not None else ((float(ys.min()), float(ys.max())) if ys.size else (0.0, 1.0))
    if y1 == y0:
        y0, y1 = y0 - 0.5, y1 + 0.5
    pad = 0.05 * (y1 - y0) if ylim is None else 0.0
    y0, y1 = y0 - pad, y1 + pad
    colors = [s.color or PALETTE[i % len(PALETTE)] for i, s in enumerate(series)]
    canvas = _Canvas(width, height, title, xlabel, ylabel, [(s.name, c, s.style) for s, c in zip(series, colors)])

    def xmap(v: float) -> float:
        return canvas.left + (v - x0) / (x1 - x0) * (canvas.right - canvas.left)

    def ymap(v: float) -> float:
        return canvas.bottom - (v - y0) / (y1 - y0) * (canvas.bottom - canvas.top)

    canvas.frame([(t, _fmt(t)) for t in _nice_ticks(x0, x1)], _nice_ticks(y0, y1), xmap, ymap)
    for s, color in zip(series, colors):
        pts: list[tuple[float, float]] = []
        for x, y in zip(s.x, s.y):
            if not math.isfinite(float(y)):
                canvas.line(pts, color, s.style)
                pts = []
                continue
            pts.append((xmap(float(x)), ymap(float(y))))
            canvas.draw.ellipse((pts[-1][0] - 3, pts[-1][1] - 3, pts[-1][0] + 3, pts[-1][1] + 3), fill=color)
        canvas.line(pts, color, s.style)
    return canvas.array()


def bar_plot(groups: Sequence[str], values: Mapping[str, Sequence[float]], title: str = "", ylabel: str = "",
             width: int = 820, height: int = 400, ylim: tuple[float, float] | None = None,
             reference: float | None = None) -> np.ndarray:
    """Grouped bars: one group per entry of ``groups``, one bar per key of ``values`` (same length each);
    ``reference`` draws a dashed horizontal line (e.g. chance level 0.5)."""
    names = list(values)
    if not groups or not names:
        raise SafeSteerError("nothing to plot: no groups or no series.")
    for n in names:
        if len(values[n]) != len(groups):
            raise SafeSteerError(f"series {n!r} has {len(values[n])} values for {len(groups)} groups.")
    allv = np.array([v for n in names for v in values[n]], dtype=np.float64)
    finite = allv[np.isfinite(allv)]
    y0, y1 = ylim if ylim is not None else (min(0.0, float(finite.min()) if finite.size else 0.0),
                                            float(finite.max()) if finite.size else 1.0)
    if y1 == y0:
        y1 = y0 + 1.0
    colors = [PALETTE[i % len(PALETTE)] for i in range(len(names))]
    canvas = _Canvas(width, height, title, "", ylabel, [(n, c, "solid") for n, c in zip(names, colors)])
    slot = (canvas.right - canvas.left) / len(groups)
    bar = slot * 0.8 / len(names)

    def ymap(v: float) -> float:
        return canvas.bottom - (min(max(v, y0), y1) - y0) / (y1 - y0) * (canvas.bottom - canvas.top)

    canvas.frame([(i, g) for i, g in enumerate(groups)], _nice_ticks(y0, y1),
                 lambda i: canvas.left + (i + 0.5) * slot, ymap)
    for gi in range(len(groups)):
        for si, n in enumerate(names):
            v = float(values[n][gi])
            if not math.isfinite(v):
                continue
            x = canvas.left + gi * slot + slot * 0.1 + si * bar
            canvas.draw.rectangle((x, ymap(v), x + bar - 2, ymap(max(y0, 0.0))), fill=colors[si])
    if reference is not None:
        canvas.line([(canvas.left, ymap(reference)), (canvas.right, ymap(reference))], (90, 90, 90), "dashed", 1)
    return canvas.array()


def save_png(image: np.ndarray, path: str | os.PathLike[str]) -> Path:
    """Write ``uint8 [H, W, 3]`` as a PNG (folders created)."""
    image_mod, _, _ = _pil()
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    image_mod.fromarray(np.asarray(image, dtype=np.uint8)).save(target, format="PNG")
    return target


def to_comfy_image(image: np.ndarray):
    """``uint8 [H, W, 3]`` -> ComfyUI IMAGE ``float32 [1, H, W, 3]`` in 0..1."""
    import torch

    return torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0).unsqueeze(0)
