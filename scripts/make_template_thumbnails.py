"""Template-browser thumbnails (``workflows/<name>.jpg``) from the browser suite's screenshots.

ComfyUI's template browser shows ``<pack>/workflows/<name>.jpg`` next to each shipped workflow. The
browser tests save a screenshot of every workflow's graph after it ran (``out/ui/<host version>/<name>.graph.png``);
this letterboxes each on the canvas colour and writes a 512x384 JPEG. Run after ``make test-ui``:

    .venv/bin/python scripts/make_template_thumbnails.py [--screens out/ui/0.3.75] [--out workflows]

An existing thumbnail is replaced only with ``--force``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
SIZE = (512, 384)


def thumbnail(graph: Image.Image) -> Image.Image:
    """``graph`` (a screenshot clipped to the graph) fitted into a ``SIZE`` card of the canvas colour;
    of a graph much wider than the card, the right end (where the output is shown)."""
    graph = graph.convert("RGB")
    background = tuple(int(v) for v in np.asarray(graph)[2, 2])
    aspect = SIZE[0] / SIZE[1]
    if graph.width > graph.height * aspect * 1.25:
        # a long graph: keep its right end (sampler, steering and the output image), which reads at card size
        keep = int(graph.height * aspect * 1.25)
        graph = graph.crop((graph.width - keep, 0, graph.width, graph.height))
    graph.thumbnail(SIZE, Image.Resampling.LANCZOS)
    card = Image.new("RGB", SIZE, background)
    card.paste(graph, ((SIZE[0] - graph.width) // 2, (SIZE[1] - graph.height) // 2))
    return card


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--screens", type=Path, default=REPO / "out" / "ui" / "0.3.75")
    parser.add_argument("--out", type=Path, default=REPO / "workflows")
    parser.add_argument("--force", action="store_true", help="replace existing thumbnails")
    args = parser.parse_args(argv)
    missing = []
    for workflow in sorted(args.out.glob("*.json")):
        shot = args.screens / f"{workflow.stem}.graph.png"
        target = args.out / f"{workflow.stem}.jpg"
        if not shot.exists():
            missing.append(shot.name)
            continue
        if target.exists() and not args.force:
            print(f"keep {target.relative_to(REPO)} (use --force to replace)")
            continue
        thumbnail(Image.open(shot)).save(target, "JPEG", quality=85, optimize=True)
        print(f"wrote {target.relative_to(REPO)}")
    if missing:
        print(f"no screenshot for: {', '.join(missing)}; run `make test-ui` first", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
