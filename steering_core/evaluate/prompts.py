"""Prompt files in I2P's shape: a CSV with ``prompt``, a seed, a guidance scale and ``categories``.

Column names (case-insensitive, first match wins):

* prompt: ``prompt`` (required);
* seed: ``seed``, ``sd_seed`` (I2P), ``evaluation_seed`` (the nudity/ESD prompt files);
* guidance: ``guidance``, ``sd_guidance_scale`` (I2P), ``evaluation_guidance``, ``guidance_scale``, ``cfg``;
* categories: ``categories`` (I2P: a comma list such as ``sexual,violence``), ``category``;
* negative prompt: ``negative``, ``negative_prompt``;
* image size: ``width``/``sd_image_width``, ``height``/``sd_image_height``.

Every other column is kept (as text) in :attr:`PromptRow.extra`, usable in a template as
``{{column_name}}`` and copied into ``results.csv``. Rows are numbered from 0 in file order
(:attr:`PromptRow.index`); the number stays the same when a filter leaves rows out, so a run over a
subset and a later run over the whole file share their finished items.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import PromptDataError, show_path

PROMPT_COLUMNS = ("prompt",)
SEED_COLUMNS = ("seed", "sd_seed", "evaluation_seed")
GUIDANCE_COLUMNS = ("guidance", "sd_guidance_scale", "evaluation_guidance", "guidance_scale", "cfg")
CATEGORY_COLUMNS = ("categories", "category")
NEGATIVE_COLUMNS = ("negative", "negative_prompt")
WIDTH_COLUMNS = ("width", "sd_image_width")
HEIGHT_COLUMNS = ("height", "sd_image_height")


@dataclass(frozen=True)
class PromptRow:
    """One prompt of the file. ``seed``/``guidance``/``width``/``height`` are None where the file has no value."""

    index: int
    prompt: str
    seed: int | None = None
    guidance: float | None = None
    categories: tuple[str, ...] = ()
    negative: str | None = None
    width: int | None = None
    height: int | None = None
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PromptFile:
    """The rows read from a file, the file's sha256 and which of its columns fed which field."""

    path: Path
    rows: list[PromptRow]
    sha256: str
    columns: dict[str, str | None]
    total_rows: int


def _pick(header: Sequence[str], names: Sequence[str]) -> str | None:
    lowered = {h.strip().lower(): h for h in header}
    for name in names:
        if name in lowered:
            return lowered[name]
    return None


def _parse_int(text: str, what: str, row: int, path: Path) -> int | None:
    text = text.strip()
    if not text:
        return None
    try:
        value = float(text) if any(c in text for c in ".eE") else int(text)
    except ValueError as exc:
        raise PromptDataError(f"{path}, data row {row}: {what} {text!r} is not a number; write a number or leave the cell empty.") from exc
    if isinstance(value, float):
        if not math.isfinite(value) or value != int(value):
            raise PromptDataError(f"{path}, data row {row}: {what} {text!r} is not a whole number.")
        value = int(value)
    return value


def _parse_float(text: str, what: str, row: int, path: Path) -> float | None:
    text = text.strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError as exc:
        raise PromptDataError(f"{path}, data row {row}: {what} {text!r} is not a number; write a number or leave the cell empty.") from exc
    if not math.isfinite(value):
        raise PromptDataError(f"{path}, data row {row}: {what} {text!r} is not finite.")
    return value


MAX_PROMPT_FILE_BYTES = 256 << 20


def split_categories(text: str) -> tuple[str, ...]:
    """``"sexual, violence"`` -> ``("sexual", "violence")`` (order kept, blanks and repeats dropped)."""
    out: list[str] = []
    for part in text.replace(";", ",").split(","):
        part = part.strip()
        if part and part not in out:
            out.append(part)
    return tuple(out)


def read_prompt_file(
    path: str | os.PathLike[str],
    *,
    categories: Sequence[str] | None = None,
    start: int = 0,
    max_prompts: int | None = None,
) -> PromptFile:
    """Read an I2P-shaped CSV (see the module docstring).

    ``categories``: keep only rows having at least one of these categories (case-insensitive);
    ``start`` / ``max_prompts``: then keep rows from the ``start``-th kept row, at most ``max_prompts``.
    """
    file_path = Path(path)
    if not file_path.is_file():
        raise PromptDataError(f"prompt file {show_path(file_path)} does not exist or is not a file; check the --prompts path.")
    if file_path.stat().st_size > MAX_PROMPT_FILE_BYTES:
        raise PromptDataError(f"prompt file {show_path(file_path)} is over {MAX_PROMPT_FILE_BYTES >> 20} MiB; split it or "
                              "select rows with --start / --max-prompts from a smaller file.")
    raw = file_path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PromptDataError(f"prompt file {file_path} is not UTF-8 text; save it as UTF-8.") from exc
    try:
        # strict: an unclosed quote is an error, not a prompt swallowing the rest of the file
        table = list(csv.reader(io.StringIO(text), strict=True))
    except csv.Error as exc:
        raise PromptDataError(f"prompt file {show_path(file_path)} is not valid CSV ({exc}); check the quotes there "
                              "(a prompt holding a comma or a quote is written \"...\" with inner quotes doubled).") from None
    reader = iter(table)
    try:
        header = next(reader)
    except StopIteration:
        raise PromptDataError(f"prompt file {file_path} is empty; give a CSV with a header row (prompt, seed, guidance, categories).") from None
    header = [h.strip() for h in header]
    if len({h.lower() for h in header}) != len(header):
        raise PromptDataError(f"prompt file {file_path}: repeated column names in the header {header}.")
    cols = {
        "prompt": _pick(header, PROMPT_COLUMNS),
        "seed": _pick(header, SEED_COLUMNS),
        "guidance": _pick(header, GUIDANCE_COLUMNS),
        "categories": _pick(header, CATEGORY_COLUMNS),
        "negative": _pick(header, NEGATIVE_COLUMNS),
        "width": _pick(header, WIDTH_COLUMNS),
        "height": _pick(header, HEIGHT_COLUMNS),
    }
    if cols["prompt"] is None:
        raise PromptDataError(
            f"prompt file {file_path} has no 'prompt' column (its columns: {', '.join(header) or 'none'}). "
            "Give a CSV in I2P's shape: prompt, sd_seed (or seed / evaluation_seed), sd_guidance_scale (or guidance), categories."
        )
    used = {c for c in cols.values() if c is not None}
    index_of = {h: i for i, h in enumerate(header)}
    rows: list[PromptRow] = []
    total = 0
    for number, cells in enumerate(reader):
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) > len(header):
            raise PromptDataError(
                f"{file_path}, data row {number}: {len(cells)} cells for {len(header)} columns (an unquoted comma in a prompt?)."
            )
        cells = cells + [""] * (len(header) - len(cells))

        def cell(name: str | None, cells: list[str] = cells) -> str:
            return "" if name is None else cells[index_of[name]]

        total += 1
        rows.append(PromptRow(
            index=total - 1,
            prompt=cell(cols["prompt"]).strip(),
            seed=_parse_int(cell(cols["seed"]), "seed", number, file_path),
            guidance=_parse_float(cell(cols["guidance"]), "guidance", number, file_path),
            categories=split_categories(cell(cols["categories"])),
            negative=cell(cols["negative"]) if cols["negative"] else None,
            width=_parse_int(cell(cols["width"]), "width", number, file_path),
            height=_parse_int(cell(cols["height"]), "height", number, file_path),
            extra={h: cells[i] for h, i in index_of.items() if h not in used},
        ))
    if not rows:
        raise PromptDataError(f"prompt file {file_path} has a header but no prompts.")
    if categories:
        wanted = {c.strip().lower() for c in categories if c.strip()}
        rows = [r for r in rows if wanted & {c.lower() for c in r.categories}]
        if not rows:
            raise PromptDataError(f"no prompt in {file_path} has any of the categories {sorted(wanted)}; check the --category values.")
    if start < 0:
        raise PromptDataError(f"start must be >= 0, got {start}.")
    rows = rows[start:]
    if max_prompts is not None:
        if max_prompts < 1:
            raise PromptDataError(f"max_prompts must be >= 1, got {max_prompts}.")
        rows = rows[:max_prompts]
    if not rows:
        raise PromptDataError(f"no prompts left in {file_path} after the filters (start={start}).")
    return PromptFile(file_path, rows, hashlib.sha256(raw).hexdigest(), cols, total)
