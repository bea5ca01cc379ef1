"""Diversity of the shipped prompt data: lengths, distinct n-grams and mean pairwise MiniLM cosine.

    python scripts/prompt_data_stats.py [--no-embed]

Prints one markdown table (the one in steering_core/data/README.md). Distinct-n is the number of
distinct word n-grams over all n-grams (higher = less repetitive); the mean pairwise cosine is
over all pairs of distinct prompts of MiniLM's mean-pooled last layer (lower = more varied).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from steering_core.directions.prompts import CATEGORIES, anchor_prompts, category_pairs  # noqa: E402

_WORD = re.compile(r"[a-z0-9']+")


def distinct_n(prompts: list[str], n: int) -> tuple[int, float]:
    """(distinct n-gram count, distinct / total) over all prompts' word n-grams."""
    grams = [tuple(w[i:i + n]) for w in (_WORD.findall(p.lower()) for p in prompts) for i in range(len(w) - n + 1)]
    return len(set(grams)), len(set(grams)) / max(1, len(grams))


def mean_pairwise_cosine(prompts: list[str]) -> float:
    from steering_core.encoders import TransformersEncoder, encode_pooled

    v = encode_pooled(TransformersEncoder.minilm(), prompts).to(dtype=__import__("torch").float64).numpy()
    v = v / np.linalg.norm(v, axis=1, keepdims=True)
    g = v @ v.T
    n = len(prompts)
    return float((g.sum() - np.trace(g)) / (n * (n - 1)))


def stats(name: str, prompts: list[str], embed: bool) -> str:
    lengths = np.array([len(_WORD.findall(p)) for p in prompts])
    q = np.percentile(lengths, [0, 25, 50, 75, 100]).astype(int)
    d1, r1 = distinct_n(prompts, 1)
    d2, r2 = distinct_n(prompts, 2)
    d3, r3 = distinct_n(prompts, 3)
    cos = f"{mean_pairwise_cosine(prompts):.3f}" if embed else "n/a"
    return (f"| {name} | {len(prompts)} | {q[0]} / {q[1]} / {q[2]} / {q[3]} / {q[4]} | {d1} ({r1:.3f}) | "
            f"{d2} ({r2:.3f}) | {d3} ({r3:.3f}) | {cos} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--no-embed", action="store_true", help="skip the MiniLM cosine")
    embed = not parser.parse_args().no_embed
    anchors = anchor_prompts()
    print("| prompts | count | words min / q1 / median / q3 / max | distinct 1-grams | distinct 2-grams | "
          "distinct 3-grams | mean pairwise cosine (MiniLM) |")
    print("|---|---|---|---|---|---|---|")
    print(stats("anchors, first 585 (hand-written)", anchors[:585], embed))
    print(stats("anchors, all", anchors, embed))
    pairs = [p for c in CATEGORIES for pair in category_pairs(c) for p in (pair.safe, pair.unsafe)]
    print(stats("pair prompts, all categories", pairs, embed))


if __name__ == "__main__":
    main()
