"""Prompt data shipped with SafeSteer, and readers for users' own prompt files.

Shipped: ``data/anchors.txt`` (benign anchor prompts, one per line, for fitting alignments)
and ``data/pairs/<category>.csv`` (columns ``safe,unsafe``; minimal-contrast pairs: the two
prompts differ only in the unsafe element).
"""

from __future__ import annotations

import csv
import io
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ..errors import PromptDataError

CATEGORIES: tuple[str, ...] = ("sexual", "violence", "hate", "self_harm", "illegal_activity", "disturbing")
DATA_DIR = Path(__file__).resolve().parents[1] / "data"


@dataclass(frozen=True)
class PromptPair:
    """A minimal-contrast pair: ``unsafe`` is ``safe`` with one element made unsafe."""

    safe: str
    unsafe: str


def _read_text(path: Path) -> str:
    if not path.is_file():
        raise PromptDataError(f"prompt file {path} does not exist.")
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PromptDataError(f"prompt file {path} is not UTF-8 text; save it as UTF-8.") from exc


def _csv_rows(text: str) -> list[list[str]]:
    return [row for row in csv.reader(io.StringIO(text)) if any(cell.strip() for cell in row)]


def read_prompts(path: str | os.PathLike[str]) -> list[str]:
    """Read prompts from a text file (one a line; blank lines and lines starting with # skipped)
    or a CSV file (``.csv``: the ``prompt`` column if there is a header with one, else the first column)."""
    file_path = Path(path)
    text = _read_text(file_path)
    if file_path.suffix.lower() == ".csv":
        rows = _csv_rows(text)
        if rows and "prompt" in [c.strip().lower() for c in rows[0]]:
            col = [c.strip().lower() for c in rows[0]].index("prompt")
            prompts = [r[col].strip() for r in rows[1:] if len(r) > col]
        else:
            prompts = [r[0].strip() for r in rows]
    else:
        prompts = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    prompts = [p for p in prompts if p]
    if not prompts:
        raise PromptDataError(f"{file_path} holds no prompts.")
    return prompts


def read_prompt_pairs(path: str | os.PathLike[str]) -> list[PromptPair]:
    """Read safe/unsafe pairs from a CSV with a ``safe,unsafe`` header (any column order), or from a
    text file with one pair a line as ``safe prompt<TAB>unsafe prompt`` or ``safe prompt || unsafe prompt``."""
    file_path = Path(path)
    text = _read_text(file_path)
    pairs: list[PromptPair] = []
    if file_path.suffix.lower() == ".csv":
        rows = _csv_rows(text)
        header = [c.strip().lower() for c in rows[0]] if rows else []
        if "safe" not in header or "unsafe" not in header:
            raise PromptDataError(f"{file_path} needs a header row naming the columns 'safe' and 'unsafe'.")
        i_safe, i_unsafe = header.index("safe"), header.index("unsafe")
        for line_no, row in enumerate(rows[1:], start=2):
            if len(row) <= max(i_safe, i_unsafe) or not row[i_safe].strip() or not row[i_unsafe].strip():
                raise PromptDataError(f"{file_path}, row {line_no}: both a safe and an unsafe prompt are required.")
            pairs.append(PromptPair(row[i_safe].strip(), row[i_unsafe].strip()))
    else:
        for line_no, line in enumerate(text.splitlines(), start=1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            parts = line.split("\t") if "\t" in line else line.split("||")
            if len(parts) != 2 or not parts[0].strip() or not parts[1].strip():
                raise PromptDataError(
                    f"{file_path}, line {line_no}: expected 'safe prompt<TAB>unsafe prompt' or 'safe || unsafe'."
                )
            pairs.append(PromptPair(parts[0].strip(), parts[1].strip()))
    if not pairs:
        raise PromptDataError(f"{file_path} holds no prompt pairs.")
    return pairs


def anchor_prompts() -> list[str]:
    """The shipped benign anchor prompts (image-caption style)."""
    return read_prompts(DATA_DIR / "anchors.txt")


def sample_prompts(prompts: Sequence[str], n: int | None, seed: int = 0) -> list[str]:
    """A seeded random subset of ``n`` prompts (all when ``n`` is None or >= the count), in file order.

    Shipped files are grouped by theme, so the first ``n`` would not be a representative subset.
    """
    return sample_prompts_and_rest(prompts, n, seed)[0]


def sample_prompts_and_rest(prompts: Sequence[str], n: int | None, seed: int = 0) -> tuple[list[str], list[str]]:
    """``(sample_prompts(prompts, n, seed), every other prompt)``, both in file order.

    The rest are benign prompts a map fitted on the sample never saw (e.g. to measure a gate's false
    positives); it is empty when ``n`` is None or >= the count.
    """
    if n is None or n >= len(prompts):
        return list(prompts), []
    if n < 1:
        raise PromptDataError(f"cannot keep {n} prompts; ask for at least 1.")
    keep = set(random.Random(seed).sample(range(len(prompts)), n))
    return ([p for i, p in enumerate(prompts) if i in keep], [p for i, p in enumerate(prompts) if i not in keep])


def category_pairs(category: str) -> list[PromptPair]:
    """The shipped minimal-contrast pairs of one category."""
    if category not in CATEGORIES:
        raise PromptDataError(f"unknown category {category!r}; shipped categories are {', '.join(CATEGORIES)}.")
    return read_prompt_pairs(DATA_DIR / "pairs" / f"{category}.csv")


def all_category_pairs(categories: Sequence[str] = CATEGORIES) -> dict[str, list[PromptPair]]:
    """Shipped pairs for several categories, keyed by category."""
    return {c: category_pairs(c) for c in categories}


def safe_anchor_prompts(categories: Sequence[str] = CATEGORIES) -> list[str]:
    """The *safe* prompt of every shipped pair of ``categories`` (distinct, in file order): benign prompts on
    the categories' own subjects, which an alignment can add to its anchors (the target sees no unsafe prompt)."""
    return list(dict.fromkeys(p.safe for c in categories for p in category_pairs(c)))


def split_pairs(pairs: Sequence[PromptPair], holdout: float = 0.3, seed: int = 0) -> tuple[list[PromptPair], list[PromptPair]]:
    """Seeded random split into (train, held_out); held_out gets ``round(holdout * n)`` pairs."""
    if not 0.0 < holdout < 1.0:
        raise PromptDataError(f"holdout must be between 0 and 1, got {holdout}.")
    order = list(range(len(pairs)))
    random.Random(seed).shuffle(order)
    n_hold = round(holdout * len(pairs))
    if n_hold == 0 or n_hold == len(pairs):
        raise PromptDataError(f"cannot split {len(pairs)} pairs with holdout={holdout}; give more pairs.")
    held = [pairs[i] for i in order[:n_hold]]
    train = [pairs[i] for i in order[n_hold:]]
    return train, held
