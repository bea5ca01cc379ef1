"""Render monospaced text (a ranking table) as a ComfyUI IMAGE ``[1, H, W, 3]`` in 0..1."""

from __future__ import annotations

import numpy as np
import torch

from steering_core.evidence import plots


def text_image(text: str, font_size: int = 14, pad: int = 10, highlight_rows: int = 0) -> torch.Tensor:
    """Light text on a dark background; the first ``highlight_rows`` body lines (after a markdown header
    and separator) get a green tint, so the chosen sites stand out."""
    from PIL import Image, ImageDraw

    lines = text.splitlines() or [""]
    font = plots.font(font_size)
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    widths = [probe.textlength(line, font=font) for line in lines]
    line_h = int(font_size * 1.4)
    width = int(max(widths) + 2 * pad) + 1
    height = line_h * len(lines) + 2 * pad
    img = Image.new("RGB", (width, height), (24, 24, 24))
    draw = ImageDraw.Draw(img)
    body_start = 2 if len(lines) > 1 and set(lines[1].replace("|", "").strip()) <= set("-: ") else 0
    for i, line in enumerate(lines):
        y = pad + i * line_h
        if body_start and body_start <= i < body_start + highlight_rows:
            draw.rectangle((0, y - 2, width, y + line_h - 2), fill=(28, 64, 36))
        draw.text((pad, y), line, fill=(235, 235, 235), font=font)
    return torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).unsqueeze(0)
