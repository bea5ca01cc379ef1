"""The real cross-model transfer table: encoder pairs x map kinds x split seeds, plus a shuffled-anchor control.

    python scripts/transfer_table.py --out out/transfer_table          # the README's table (long on a CPU)
    python scripts/transfer_table.py --pairs minilm:6>minilm:3 --maps procrustes --seeds 0 \\
        --max-anchors 120 --max-pairs 20 --out /tmp/t                  # a quick subset

Every encoder encodes every prompt (anchors and pairs) once (when a pair first needs it), pooled by its kind (``auto``: mean for
encoders, robust_mean for decoder LLMs); each (pair, map, seed) is then one
:func:`steering_core.alignment.transfer_report` on those pooled vectors. The control refits the first map kind
with the target anchors shuffled (``shuffle_anchors=True``). Writes ``table.md`` (summary: mean over
categories, mean ± sd over seeds; per-category detail; the control; the transported direction as a gate,
``gate_figures``; the agreement-vs-AUROC correlations) and ``table.json`` (every report's rows) into ``--out``.

Pooled encodings are cached as safetensors files (``--cache``, default ``OUT/cache``; one per encoder, layer,
weights, pooling and prompt list: :mod:`steering_core.encoders.pooled_cache`), so a rerun or another pair reuses them;
``--resume`` keeps ``OUT/table.json``'s records and runs only the missing (pair, map, control, seed) groups,
so a grid can be filled in the order wanted by successive runs into one ``--out``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from steering_core import transfer_report  # noqa: E402
from steering_core.alignment.agreement import spearman  # noqa: E402
from steering_core.encoders.base import EncodedPrompts, encoder_pooling  # noqa: E402
from steering_core.encoders.pooled_cache import cached_pooled  # noqa: E402
from steering_core.directions.prompts import CATEGORIES, anchor_prompts, category_pairs, sample_prompts  # noqa: E402
from steering_core.transfer_cli import _EncoderCache  # noqa: E402

DEFAULT_PAIRS = ("smollm2:16>minilm", "smollm2:16>e5", "minilm>e5", "e5>minilm")  # SmolLM2 at its default layer


@dataclass
class PooledTable:
    """A TextEncoder stand-in that returns precomputed pooled vectors as one-token sequences.

    ``encode`` gives ``hidden [B, 1, D]`` with a full mask, so any token pooling returns the stored
    vector unchanged (``kind = "encoder"``: "auto" resolves to plain mean).
    """

    name: str
    layer: str
    vectors: dict[str, torch.Tensor]
    fingerprint: str = ""
    kind: str = "encoder"
    hidden_size: int = field(init=False)

    def __post_init__(self) -> None:
        self.hidden_size = int(next(iter(self.vectors.values())).shape[0])

    def encode(self, prompts: list[str]) -> EncodedPrompts:
        hidden = torch.stack([self.vectors[p] for p in prompts]).unsqueeze(1)
        return EncodedPrompts(hidden=hidden, mask=torch.ones(hidden.shape[:2], dtype=torch.bool))


def pool_all(cache: _EncoderCache, spec: str, prompts: list[str], folder: Path, say) -> PooledTable:
    """Every prompt pooled by ``spec``'s kind, read from the pooled-encoding cache in ``folder`` when there."""
    encoder = cache.get(spec)
    started = time.perf_counter()
    pooling = encoder_pooling(encoder)
    vectors, cached = cached_pooled(encoder, prompts, folder, pooling=pooling, batch_size=32)
    say(f"  {spec}: {len(prompts)} prompts, {pooling} pooling, "
        f"{'read from cache' if cached else 'encoded'} in {time.perf_counter() - started:.0f} s")
    return PooledTable(name=f"{encoder.name} [{pooling}]", layer=str(getattr(encoder, "layer", "")),
                       vectors={p: vectors[i] for i, p in enumerate(prompts)})


GATE_KEYS = ("auc_anchors", "fpr_anchors", "fpr_safe", "recall")


def map_anchors(rep, anchors: list[str]) -> list[str]:
    """The anchors ``rep``'s map was fitted on: ``anchors``, plus its training pairs' safe prompts when the report
    ran with ``safe_prompts_as_anchors`` (the order :func:`transfer_report` builds)."""
    if not rep.settings.get("safe_prompts_as_anchors"):
        return anchors
    held = {x for d in rep.split.values() for pair in d["held_out"] for x in pair}
    return list(dict.fromkeys(anchors + [pair[0] for d in rep.split.values() for pair in d["train"] if pair[0] not in held]))


def gate_figures(rep, tgt: PooledTable, anchors: list[str], seed: int,
                 false_positive_rate: float = 0.05) -> dict[str, dict[str, float]]:
    """Per category, the transported direction as a *gate* in the target space, at its calibrated operating point.

    The direction is transported by the map ``rep`` fitted (``rep.alignments``: its anchors ``anchors``, kind,
    ``lam="auto"``, ``seed``) with its gates calibrated at ``false_positive_rate`` on the map's stored training
    anchors. Measured on prompts neither the map nor the calibration saw: the anchors :func:`fit_alignment` held
    out (``anchor_holdout_split``) and ``rep``'s held-out pairs. Keys: ``gate_auc_anchors`` (AUROC, held-out
    anchors vs held-out unsafe prompts), ``gate_fpr_anchors`` / ``gate_fpr_safe`` (share of held-out anchors /
    held-out safe prompts whose gate opens) and ``gate_recall`` (share of held-out unsafe prompts whose gate
    opens). The gate's AUROC on the held-out pairs is the table's *transferred* AUROC.
    """
    from steering_core.alignment.maps import anchor_holdout_split
    from steering_core.directions.metrics import auroc

    stack = lambda table, prompts: torch.stack([table.vectors[p] for p in prompts]).to(torch.float64)  # noqa: E731
    alignment = rep.alignments[rep.sources[0]]
    held_anchors = stack(tgt, [anchors[i] for i in anchor_holdout_split(len(anchors), 0.1, seed)[0].tolist()])
    moved = alignment.transport(rep.directions[f"source:{rep.sources[0]}"], false_positive_rate=false_positive_rate,
                                agreement=False)
    out = {}
    for c in rep.categories:
        held = [p for cat, d in rep.split.items() if c in ("global", cat) for p in d["held_out"]]
        i = moved.index(c)
        thr = float(moved.thresholds[i])
        s, u = (moved.gate_scores(stack(tgt, [p[j] for p in held]))[:, i] for j in (0, 1))
        a = moved.gate_scores(held_anchors)[:, i]
        out[c] = {"gate_auc_anchors": auroc(a, u), "gate_fpr_anchors": float((a < thr).double().mean()),
                  "gate_fpr_safe": float((s < thr).double().mean()), "gate_recall": float((u < thr).double().mean())}
    return out


def _ms(values: list[float]) -> str:
    vals = [v for v in values if v is not None and math.isfinite(v)]
    if not vals:
        return "n/a"
    return f"{np.mean(vals):.3f} ± {np.std(vals, ddof=1) if len(vals) > 1 else 0.0:.3f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", nargs="+", default=list(DEFAULT_PAIRS), help="SOURCE>TARGET encoder specs")
    parser.add_argument("--maps", nargs="+", default=["ridge", "procrustes", "mlp"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--max-anchors", type=int, default=None, help="a seeded random N of the shipped anchors")
    parser.add_argument("--max-pairs", type=int, default=None, help="the first N pairs of each category")
    parser.add_argument("--categories", default=",".join(CATEGORIES))
    parser.add_argument("--no-agreement-for", nargs="*", default=["mlp"],
                        help="map kinds whose agreement is not measured (5 extra fits each)")
    parser.add_argument("--out", default="out/transfer_table")
    parser.add_argument("--cache", default=None, help="pooled-encoding cache folder (default: OUT/cache)")
    parser.add_argument("--resume", action="store_true",
                        help="keep OUT/table.json's records and skip the (pair, map, control, seed) runs it holds")
    parser.add_argument("--validation-for", nargs="*", default=["ridge", "procrustes", "mlp"],
                        help="map kinds whose validation ratio (the report's val_ratio: transferred / source AUROC on a "
                             "validation split of the training pairs, same map) is recorded; --resume adds it to kept "
                             "records that lack it (one report each, without agreement)")
    parser.add_argument("--gates-for", nargs="*", default=["ridge", "procrustes"],
                        help="map kinds whose transported direction is measured as a gate (gate_figures; not for the "
                             "control; computed with the record, not added by --resume)")
    parser.add_argument("--no-control", action="store_true", help="skip the shuffled-anchor control")
    parser.add_argument("--safe-prompts-as-anchors", action="store_true",
                        help="every map (and control) also fits on the training pairs' safe prompts (benign)")
    parser.add_argument("--control-only", action="store_true", help="run only the shuffled-anchor control")
    parser.add_argument("--merge", nargs="+", default=None, metavar="DIR",
                        help="write OUT's table from these folders' table.json records (a later folder's record of "
                             "the same pair, map, control, seed and category replaces an earlier one); runs nothing")
    parser.add_argument("--encode-only", nargs="*", default=None, metavar="SPEC",
                        help="fill the cache for these encoder specs (none given: every encoder of --pairs), then stop")
    args = parser.parse_args(argv)
    cache_folder = Path(args.cache) if args.cache else Path(args.out) / "cache"
    say = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731

    anchors = sample_prompts(anchor_prompts(), args.max_anchors, seed=0)
    pairs = {c: category_pairs(c)[:args.max_pairs] for c in args.categories.split(",")}
    prompts = list(dict.fromkeys(anchors + [x for ps in pairs.values() for p in ps for x in (p.safe, p.unsafe)]))
    specs = list(dict.fromkeys(args.encode_only or [s for pair in args.pairs for s in pair.split(">")]))
    say(f"{len(prompts)} prompts for each of {len(specs)} encoders (encoded when a pair first needs them)")
    cache = _EncoderCache("cpu", 128)
    tables: dict[str, PooledTable] = {}

    if args.merge:
        merged: dict[tuple, dict] = {}
        for folder in args.merge:
            for r in json.loads((Path(folder) / "table.json").read_text(encoding="utf-8")):
                merged[(r["pair"], r["map"], r["control"], r["seed"], r["category"])] = r
        print(write(Path(args.out), list(merged.values()), anchors, pairs))
        return 0
    if args.encode_only is not None:
        for spec in specs:
            pool_all(cache, spec, prompts, cache_folder, say)
        return 0
    old = Path(args.out) / "table.json"
    records = json.loads(old.read_text(encoding="utf-8")) if args.resume and old.is_file() else []
    done = {(r["pair"], r["map"], r["control"], r["seed"]) for r in records}
    text = ""
    for pair in args.pairs:
        src, tgt = pair.split(">")
        runs = ([] if args.control_only else [(m, False) for m in args.maps]) + \
            ([] if args.no_control else [(args.maps[0], True)])
        def needs_val(m: str, c: bool, s: int) -> bool:
            return m in args.validation_for and any(
                "val_ratio" not in r for r in records if (r["pair"], r["map"], r["control"], r["seed"]) == (pair, m, c, s))

        if all((pair, m, c, s) in done and not needs_val(m, c, s) for m, c in runs for s in args.seeds):
            continue
        for spec in (src, tgt):
            if spec not in tables:
                tables[spec] = pool_all(cache, spec, prompts, cache_folder, say)
        for map_kind, control in runs:
            for seed in args.seeds:
                if (pair, map_kind, control, seed) in done:
                    if needs_val(map_kind, control, seed):
                        started = time.perf_counter()
                        val = {r.category: r.sources[0].val_ratio for r in transfer_report(
                            tables[src], tables[tgt], pairs, anchors, map_kind=map_kind, seed=seed,
                            shuffle_anchors=control, agreement=False,
                            safe_prompts_as_anchors=args.safe_prompts_as_anchors).rows}
                        for r in records:
                            if (r["pair"], r["map"], r["control"], r["seed"]) == (pair, map_kind, control, seed):
                                r["val_ratio"] = val.get(r["category"])
                        say(f"{pair} {map_kind}{' CONTROL' if control else ''} seed {seed}: validation ratio added, "
                            f"{time.perf_counter() - started:.0f} s")
                    continue
                started = time.perf_counter()
                rep = transfer_report(tables[src], tables[tgt], pairs, anchors, map_kind=map_kind, seed=seed,
                                      shuffle_anchors=control, agreement=map_kind not in args.no_agreement_for,
                                      validation=map_kind in args.validation_for,
                                      safe_prompts_as_anchors=args.safe_prompts_as_anchors)
                m = rep.maps[0]
                gate = gate_figures(rep, tables[tgt], map_anchors(rep, anchors), seed) \
                    if map_kind in args.gates_for and not control else {}
                for r in rep.rows:
                    s = r.sources[0]
                    records.append({"pair": pair, "source": rep.sources[0], "target": rep.target, "map": map_kind,
                                    "control": control, "seed": seed, "category": r.category, "n_held_out": r.n_held_out,
                                    "native": r.native_auroc, "transferred": s.transferred_auroc,
                                    "universal": r.universal_auroc, "source_auroc": s.source_auroc, "cos": s.cosine,
                                    "coverage": s.coverage, "agreement": s.agreement, "r2": m["held_out_r2"],
                                    "lam": m.get("lam_selected"), "val_ratio": s.val_ratio,
                                    **gate.get(r.category, {})})
                say(f"{pair} {map_kind}{' CONTROL' if control else ''} seed {seed}: "
                    f"{time.perf_counter() - started:.0f} s")
            text = write(Path(args.out), records, anchors, pairs)  # after every group: a long run keeps what it has
    if records:
        text = write(Path(args.out), records, anchors, pairs)
    print(text)
    return 0


def write(out: Path, records: list[dict], anchors: list[str], pairs: dict) -> str:
    out.mkdir(parents=True, exist_ok=True)
    (out / "table.json").write_text(json.dumps(records, indent=1) + "\n", encoding="utf-8")
    text = render(records, anchors, pairs)
    (out / "table.md").write_text(text + "\n", encoding="utf-8")
    return text


def render(records: list[dict], anchors: list[str], pairs: dict) -> str:
    cats = [c for c in dict.fromkeys(r["category"] for r in records) if c != "global"]
    n_held = {c: next(r["n_held_out"] for r in records if r["category"] == c) for c in cats}
    lines = [f"{len(anchors)} benign anchors; per category {min(len(p) for p in pairs.values())}+ pairs, held out per "
             f"category {min(n_held.values())}–{max(n_held.values())}; mean over the {len(cats)} categories, then "
             "mean ± sd over split seeds. ratio = transferred / native.", "",
             "| source → target | map | native | transferred | ratio | universal | cos | coverage | map R² | "
             "agreement | val ratio | λ (auto) |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    groups = list(dict.fromkeys((r["pair"], r["map"], r["control"]) for r in records))
    for pair, map_kind, control in groups:
        rows = [r for r in records if (r["pair"], r["map"], r["control"]) == (pair, map_kind, control) and r["category"] in cats]
        seeds = sorted({r["seed"] for r in rows})

        def per_seed(key: str) -> list[float]:
            out = []
            for s in seeds:
                vals = [r.get(key) for r in rows if r["seed"] == s and r.get(key) is not None]
                out.append(float(np.mean(vals)) if vals else float("nan"))
            return out

        ratio = [t / n for t, n in zip(per_seed("transferred"), per_seed("native"))]
        label = f"{rows[0]['source']} → {rows[0]['target']}"
        lines.append(f"| {label} | {map_kind}{' **shuffled-anchor control**' if control else ''} | {_ms(per_seed('native'))} | "
                     f"{_ms(per_seed('transferred'))} | {_ms(ratio)} | {_ms(per_seed('universal'))} | {_ms(per_seed('cos'))} | "
                     f"{_ms(per_seed('coverage'))} | {_ms(per_seed('r2'))} | {_ms(per_seed('agreement'))} | {_ms(per_seed('val_ratio'))} | "
                     f"{_ms(per_seed('lam'))} |")
    lines += render_gates(records, cats)
    lines += ["", "Per category (mean ± sd over seeds): native / transferred / universal AUROC, cos, coverage, agreement.", "",
              "| source → target | map | category | native | transferred | universal | cos | coverage | agreement |",
              "|---|---|---|---|---|---|---|---|---|"]
    for pair, map_kind, control in groups:
        for c in cats:
            rows = [r for r in records if (r["pair"], r["map"], r["control"], r["category"]) == (pair, map_kind, control, c)]
            lines.append(f"| {rows[0]['source']} → {rows[0]['target']} | {map_kind}{' control' if control else ''} | {c} | "
                         + " | ".join(_ms([r[k] for r in rows]) for k in ("native", "transferred", "universal", "cos",
                                                                         "coverage", "agreement")) + " |")
    real = [r for r in records if not r["control"] and r["category"] in cats]
    lines += ["", "Which diagnostic tracks transfer? Spearman correlation with transferred / source AUROC over every "
              f"(pair, map, seed, category) point (n = {len(real)}; agreement and val_ratio where measured; val_ratio: "
              "transferred / source AUROC on a validation split of the training pairs, the report's val_ratio):", ""]
    for key in DIAGNOSTICS:
        rho, n = _rho(real, key)
        if n > 2:
            lines.append(f"- {key}: {rho:+.2f} (n = {n})")
    pair_names = list(dict.fromkeys(r["pair"] for r in real))
    if len(pair_names) > 1:
        lines += ["", "Within each pair (its map, seed, category points), so differences between pairs do not drive ρ:", "",
                  "| pair | " + " | ".join(DIAGNOSTICS) + " |", "|---" * (len(DIAGNOSTICS) + 1) + "|"]
        for name in pair_names:
            cells = [_rho([r for r in real if r["pair"] == name], key) for key in DIAGNOSTICS]
            lines.append(f"| {name} | " + " | ".join(f"{rho:+.2f} (n = {n})" if n > 2 else "n/a" for rho, n in cells) + " |")
    return "\n".join(lines)


def render_gates(records: list[dict], cats: list[str]) -> list[str]:
    """The gate table (see :func:`gate_figures`): per (pair, map), mean over categories, then mean ± sd over seeds."""
    have = [r for r in records if not r["control"] and r["category"] in cats and "gate_recall" in r]
    if not have:
        return []
    lines = ["", "The transported direction as a gate in the target space (gate_figures), calibrated at 5 % on the map's "
             "training anchors: AUROC of held-out safe vs unsafe pairs (= transferred) and of held-out anchors vs held-out "
             "unsafe prompts; at the calibrated threshold, the share of held-out anchors / held-out safe prompts the gate "
             "opens for (false positives) and of held-out unsafe prompts (recall).", "",
             "| source → target | map | AUROC pairs | AUROC anchors | FP anchors | FP safe | recall |", "|---|---|---|---|---|---|---|"]
    for pair, map_kind in dict.fromkeys((r["pair"], r["map"]) for r in have):
        rows = [r for r in have if (r["pair"], r["map"]) == (pair, map_kind)]
        seeds = sorted({r["seed"] for r in rows})

        def per_seed(key: str) -> list[float]:
            return [float(np.mean([r[key] for r in rows if r["seed"] == s])) for s in seeds]

        lines.append(f"| {rows[0]['source']} → {rows[0]['target']} | {map_kind} | {_ms(per_seed('transferred'))} | "
                     + " | ".join(_ms(per_seed(f"gate_{k}")) for k in GATE_KEYS) + " |")
    return lines


DIAGNOSTICS = ("agreement", "r2", "coverage", "cos", "val_ratio")


def _rho(records: list[dict], key: str) -> tuple[float, int]:
    """Spearman ρ of diagnostic ``key`` with transferred / source AUROC over ``records`` that have it, and their count."""
    pts = [r for r in records if r.get(key) is not None]
    if len(pts) < 3:
        return float("nan"), len(pts)
    ratio = torch.tensor([r["transferred"] / r["source_auroc"] for r in pts], dtype=torch.float64)
    return spearman(torch.tensor([r[key] for r in pts], dtype=torch.float64), ratio), len(pts)


if __name__ == "__main__":
    raise SystemExit(main())
