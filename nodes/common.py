"""Small helpers shared by SafeSteer nodes: prompt-set parsing, summaries, progress."""

from __future__ import annotations

from typing import Callable

from steering_core import (CATEGORIES, PromptPair, SafetyDirection, all_category_pairs, anchor_prompts, category_pairs,
                           sample_prompts)
from steering_core.errors import PromptDataError, SafeSteerError

ALL = "all categories"
CUSTOM = "custom"
PROMPT_SETS: list[str] = [ALL, *CATEGORIES, CUSTOM]
#: The pooling combo of the nodes that pool prompts; "auto" (the default) follows each encoder's kind.
POOLING_OPTIONS: list[str] = ["auto", "mean", "last_k", "robust_mean", "robust_last_k"]
POOLING_TOOLTIP = ("How a prompt's token states become one vector. auto (default): mean for encoders (CLIP, T5, BERT), "
                   "robust_mean for LLM encoders. mean: over all tokens; last_k: the last 5 tokens; robust_*: the same "
                   "without the LLM's attention-sink first token and massive-activation tokens (norm > 10x the "
                   "prompt's median), which otherwise dominate the vector.")


def parse_pair_lines(text: str) -> list[PromptPair]:
    """``safe prompt | unsafe prompt`` per line; blank lines and ``#`` comments skipped."""
    pairs = []
    for n, line in enumerate((text or "").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = [p.strip() for p in line.split("|")]
        if len(parts) != 2 or not all(parts):
            raise PromptDataError(
                f"custom pair line {n} ({line[:60]!r}) must be 'safe prompt | unsafe prompt' (one '|' between two prompts)."
            )
        pairs.append(PromptPair(parts[0], parts[1]))
    return pairs


def prompt_pairs(prompt_set: str, custom_pairs: str) -> dict[str, list[PromptPair]]:
    """Pairs per category for a prompt-set choice (custom text becomes category ``custom``)."""
    if prompt_set == ALL:
        return all_category_pairs()
    if prompt_set == CUSTOM:
        pairs = parse_pair_lines(custom_pairs)
        if len(pairs) < 2:
            raise PromptDataError("custom prompt set needs at least 2 'safe | unsafe' lines in custom_pairs.")
        return {CUSTOM: pairs}
    if prompt_set in CATEGORIES:
        return {prompt_set: category_pairs(prompt_set)}
    raise SafeSteerError(f"unknown prompt set {prompt_set!r}; choose one of {', '.join(PROMPT_SETS)}.")


def benign_prompts(custom: str) -> list[str]:
    """Benign anchor prompts: the user's lines if any, else the shipped set."""
    lines = [ln.strip() for ln in (custom or "").splitlines() if ln.strip() and not ln.strip().startswith("#")]
    if not lines:
        return anchor_prompts()
    if len(lines) < 16:
        raise PromptDataError(f"custom anchors: {len(lines)} prompts given, at least 16 benign prompts are needed "
                              f"(leave the field empty to use the {len(anchor_prompts())} shipped anchors).")
    return lines


LAM_AUTO_TOOLTIP = ("Choose the ridge penalty by exact leave-one-out error on the anchors (the core's and the command "
                    "line's lam='auto'); the lam input is then not used and the chosen value is reported. Off keeps the "
                    "lam input (ridge map only).")
MAX_ANCHORS_TOOLTIP = ("Use a seeded random N of the anchors (the shipped files are grouped by theme, so never the first "
                       "N; the same draw as the command line's --max-anchors); 0 = all anchors.")
MIN_ANCHORS = 16


def node_lam(lam: float, lam_auto: bool) -> float | str:
    """The ``lam`` a node passes to the core: ``"auto"`` when ``lam_auto`` is on, else the number."""
    return "auto" if lam_auto else float(lam)


def anchor_subset(anchors: list[str], max_anchors: int, seed: int = 0) -> list[str]:
    """``max_anchors`` of ``anchors`` drawn by :func:`steering_core.sample_prompts` with ``seed``; 0 keeps all.

    Raises:
        PromptDataError: ``max_anchors`` is negative or below the 16 anchors a map needs.
    """
    if max_anchors == 0:
        return anchors
    if max_anchors < MIN_ANCHORS:
        raise PromptDataError(f"max_anchors is {max_anchors}; use 0 (all {len(anchors)} anchors) or at least "
                              f"{MIN_ANCHORS}, since a map fitted on fewer benign prompts does not carry a direction.")
    return sample_prompts(anchors, max_anchors, seed)


def describe(direction: SafetyDirection) -> str:
    """One-paragraph summary of a direction, for node text outputs."""
    lines = [f"{direction.num_categories} categor{'y' if direction.num_categories == 1 else 'ies'} in a "
             f"{direction.dim}-d space ({direction.source_model or 'unnamed model'}, {direction.layer or 'layer n/a'}, "
             f"{direction.pooling} pooling)"]
    gated = direction.thresholds is not None
    for i, cat in enumerate(direction.categories):
        extra = f", gate < {float(direction.thresholds[i]):.4g}" if gated else ""  # type: ignore[index]
        lines.append(f"  {cat}: scale {float(direction.scale[i]):.4g}{extra}")
    stats = direction.info.get("categories")
    if isinstance(stats, dict) and stats:
        lines.append("  pair AUROC (in-sample): " + ", ".join(
            f"{k} {float(v['train_auroc']):.3f}" for k, v in stats.items() if isinstance(v, dict) and "train_auroc" in v))
    return "\n".join(lines)


def progress_bar(total: int) -> Callable[[int], None]:
    """ComfyUI progress bar callback (advance by n)."""
    import comfy.utils

    bar = comfy.utils.ProgressBar(total)
    return bar.update
