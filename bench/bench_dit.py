"""DiT Safety Steer at every block of a FLUX-shaped tiny ComfyUI model: one sampling step, steered vs unsteered.

The model is ComfyUI's own Flux (``comfy.supported_models.Flux`` -> ``comfy.model_base.Flux`` ->
``comfy.ldm.flux.model.Flux`` in a ``ModelPatcher``) with random weights: hidden 256 (2 heads of 128,
``axes_dim`` 16/56/56 like FLUX), MLP ratio 4, 4 double + 8 single blocks. One step of a 64x64 latent
(16 channels, patch 2 -> 1024 image tokens) with 64 text tokens of width 4096 and a pooled vector of 768
(FLUX's T5/CLIP-L widths), cfg 2 so cond and uncond run as one batch of 2.

The steered model comes from the pack itself: the pack is loaded by ComfyUI's custom-node loader
(``nodes.load_custom_node`` on ``<base>/custom_nodes/safesteer`` -> this repository) and its node
``SafeSteerDiTSteer`` (``NODE_CLASS_MAPPINGS``) is executed with sites "all", stream "both", a 6-category
direction in the conditioning space (so every call maps it through the model's own ``txt_in``), the
whole sigma window, and ``cond_only`` off (both rows steered). Each timed call is a complete 1-step
``KSampler`` (``nodes.common_ksampler``, euler/simple), so the ``APPLY_MODEL`` wrapper and the
``patches_replace["dit"]`` entries run exactly as in a real graph; the unsteered reference runs the
same call on the plain model. Before timing, the benchmark checks that the steered step differs from
the (deterministic) unsteered one and that every call steered all 12 blocks.

Ratio target: 1.05 for "add" (the cheapest mode). "gated" and "project_out" are reported with the same
target for comparison. The tiny hidden size makes the blocks cheap relative to the per-token steering
update (block work grows like H^2 per token, steering like H), so a real FLUX (H = 3072) pays
proportionally less than this model.

Timing (``common.compare``): each round runs the plain step and each steered step once (order rotated
per round); a repeat's ratio is the median over its rounds of steered / plain wall time within a round;
``ratio`` is the median over ``repeats`` repeats, with ``ratio_min`` / ``ratio_max``, and ``cpu_ratio`` the
same for this process's CPU time. On a shared 2-core VM, host load can
make every step several times slower for minutes at a time (0.4 s -> 5 s seen); in that state
memory-bound ops (all of the steering) slow down more than the matmuls and every ratio rises ("add"
about 1.08), so compare figures taken in the same state (``plain_step_s`` tells).

Needs the ComfyUI host (``.comfyui/`` or ``$SAFESTEER_COMFYUI``); :func:`host_available` tells.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

import steering_core as sc

from .common import compare, profile_tables

ROOT = Path(__file__).resolve().parents[1]
PACK_NAME = "safesteer"
NODE_ID = "SafeSteerDiTSteer"

HIDDEN = 256
DOUBLE = 4
SINGLE = 8
LATENT = (1, 16, 64, 64)       # patch 2 -> 32 x 32 = 1024 image tokens
TEXT_TOKENS = 64
CONTEXT_DIM = 4096             # T5-XXL width
POOLED_DIM = 768               # CLIP-L pooled width
K = 6
# one strength for all K categories: the node's strength input is a number (per-category strengths are
# Multi-Category Steer's inputs); the op still projects on and moves along all K directions per token
STRENGTH = 1.0
CFG = 2.0
MODES = ("add", "gated", "project_out")

_HOST: dict[str, Any] = {}


def comfy_dir() -> Path:
    """The ComfyUI folder: ``$SAFESTEER_COMFYUI`` or ``<repo>/.comfyui``."""
    return Path(os.environ.get("SAFESTEER_COMFYUI") or ROOT / ".comfyui").resolve()


def host_available() -> bool:
    path = comfy_dir()
    return all((path / name).exists() for name in ("main.py", "nodes.py", "comfy", "comfy_api"))


def _module_in(module: Any, folder: Path) -> bool:
    path = getattr(module, "__file__", None) or ""
    return os.path.realpath(path).startswith(str(folder) + os.sep)


def _host(device: torch.device) -> Any:
    """Import ComfyUI in-process (once) and load the pack with ComfyUI's loader; returns ComfyUI's ``nodes``."""
    if "nodes" in _HOST:
        return _HOST["nodes"]
    comfy = comfy_dir()
    if not host_available():
        raise RuntimeError(f"no ComfyUI host at {comfy}; run scripts/install_comfyui.sh (or set SAFESTEER_COMFYUI)")
    # ComfyUI's folder first: this repository has a ``nodes`` package that must never shadow ComfyUI's nodes.py.
    if str(comfy) in sys.path:
        sys.path.remove(str(comfy))
    sys.path.insert(0, str(comfy))
    stale = [m for m in ("nodes", "utils", "folder_paths") if m in sys.modules and not _module_in(sys.modules[m], comfy)]
    if stale:
        raise RuntimeError(f"modules {stale} were imported from outside {comfy} before ComfyUI")
    base = Path(tempfile.mkdtemp(prefix="safesteer-bench-"))
    atexit.register(shutil.rmtree, base, ignore_errors=True)  # removes the link, never what it points to
    for sub in ("models", "input", "output", "temp", "user", "custom_nodes"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    link = base / "custom_nodes" / PACK_NAME
    link.symlink_to(ROOT, target_is_directory=True)

    from comfy.cli_args import args

    args.cpu = device.type != "cuda"
    args.base_directory = str(base)
    args.disable_api_nodes = True
    import comfy.utils
    import folder_paths  # noqa: F401  (reads args.base_directory)
    import utils.extra_config  # noqa: F401  (before `import nodes`, as main.py does)

    import nodes

    comfy.utils.set_progress_bar_enabled(False)
    loop = asyncio.new_event_loop()
    try:
        ok = loop.run_until_complete(nodes.load_custom_node(str(link)))
    finally:
        loop.close()
    if not ok or NODE_ID not in nodes.NODE_CLASS_MAPPINGS:
        raise RuntimeError(f"ComfyUI could not load the pack from {link} (no {NODE_ID} node)")
    _HOST["nodes"] = nodes
    return nodes


def _tiny_models() -> Any:
    """``tests/tiny_host_pack/tiny_models.py`` (the test kit's model builders), loaded by path: with ComfyUI
    first on ``sys.path`` the name ``tests`` is ComfyUI's own tests folder."""
    import importlib.util

    name = "safesteer_bench_tiny_models"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "tests" / "tiny_host_pack" / "tiny_models.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def build_flux(device: torch.device, dtype: torch.dtype, hidden: int = HIDDEN, double: int = DOUBLE,
               single: int = SINGLE, seed: int = 0) -> Any:
    """A random-weight Flux MODEL (ModelPatcher) built through ComfyUI's own classes."""
    import comfy.model_management as mm
    import comfy.model_patcher
    import comfy.supported_models as sm

    tiny = _tiny_models()
    cfg = tiny.arch("flux").config(context_dim=CONTEXT_DIM, pooled_dim=POOLED_DIM)
    heads = max(1, hidden // 128)  # FLUX's head size; hidden 256 -> 2 heads, 3072 -> 24
    cfg.update(hidden_size=hidden, num_heads=heads, mlp_ratio=4.0, depth=double, depth_single_blocks=single,
               axes_dim=[16, 56, 56] if hidden // heads == 128 else cfg["axes_dim"])
    assert sum(cfg["axes_dim"]) == hidden // heads, cfg
    model_config = sm.Flux(cfg)
    model_config.set_inference_dtype(dtype, None)
    base = model_config.get_model({}, "")
    tiny.init_random_(base.diffusion_model, seed)
    base.diffusion_model.to(dtype)
    base.eval()
    return comfy.model_patcher.ModelPatcher(base, load_device=mm.get_torch_device(), offload_device=mm.unet_offload_device())


def _conditioning(seed: int, tokens: int) -> list[list[Any]]:
    gen = torch.Generator().manual_seed(seed)
    return [[torch.randn(1, tokens, CONTEXT_DIM, generator=gen),
             {"pooled_output": torch.randn(1, POOLED_DIM, generator=gen), "guidance": 3.5}]]


def _direction() -> sc.SafetyDirection:
    gen = torch.Generator().manual_seed(1)
    raw = torch.randn(K, CONTEXT_DIM, generator=gen, dtype=torch.float64) * 0.05
    # thresholds far above any score: every gate opens, so "gated" steers every prompt (its worst case)
    return sc.SafetyDirection.from_vectors(raw, [f"c{i}" for i in range(K)], thresholds=torch.full((K,), 1e6))


def _probe(model: Any, log: list[dict[str, Any]]) -> Any:
    """A clone whose innermost APPLY_MODEL wrapper records each call's batch, cond/uncond layout, how many
    site calls SafeSteer's plan reached and edited, and the per-site editors of the call's plan (empty for
    direction plans)."""
    import comfy.patcher_extension

    probe = model.clone()

    def wrapper(executor: Any, x: Any, t: Any, c_concat: Any = None, c_crossattn: Any = None, control: Any = None,
                transformer_options: Any = None, **kwargs: Any) -> Any:
        options = transformer_options or {}
        states = [v for k, v in options.items() if isinstance(k, str) and k.startswith("safesteer.dit.")]
        out = executor(x, t, c_concat, c_crossattn, control, transformer_options, **kwargs)
        log.append({"batch": int(x.shape[0]), "cond_or_uncond": list(options.get("cond_or_uncond") or []),
                    "sites": [(s.reached, s.edited) for s in states],
                    "editors": [dict(getattr(s.plan, "editors", {})) for s in states]})
        return out

    probe.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.APPLY_MODEL, "safesteer.bench.probe", wrapper)
    return probe


def run(device: torch.device, dtype: torch.dtype = torch.float32, latent: tuple[int, ...] = LATENT,
        text_tokens: int = TEXT_TOKENS, hidden: int = HIDDEN, double: int = DOUBLE, single: int = SINGLE,
        rounds: int = 3, modes: tuple[str, ...] = MODES, threads: int | None = 2,
        target_ratio: float | None = 1.05, repeats: int = 5) -> list[dict[str, Any]]:
    """Rows (one per mode) for steered vs unsteered 1-step KSampler calls; ``threads`` sets torch's CPU
    threads for the run (restored after; None leaves them)."""
    previous_threads = torch.get_num_threads()
    if threads is not None and device.type == "cpu":
        torch.set_num_threads(threads)
    try:
        return _run(device, dtype, latent, text_tokens, hidden, double, single, rounds, modes, target_ratio, repeats)
    finally:
        torch.set_num_threads(previous_threads)


def _run(device: torch.device, dtype: torch.dtype, latent: tuple[int, ...], text_tokens: int, hidden: int, double: int,
         single: int, rounds: int, modes: tuple[str, ...], target_ratio: float | None,
         repeats: int) -> list[dict[str, Any]]:
    nodes = _host(device)
    node = nodes.NODE_CLASS_MAPPINGS[NODE_ID]
    model = build_flux(device, dtype, hidden, double, single)
    positive, negative = _conditioning(2, text_tokens), _conditioning(3, text_tokens)
    samples = {"samples": torch.zeros(latent)}
    direction = _direction()

    def step(m: Any) -> torch.Tensor:
        return nodes.common_ksampler(m, 0, 1, CFG, "euler", "simple", positive, negative, samples)[0]["samples"]

    plain = step(model)
    if not torch.equal(plain, step(model)):
        raise RuntimeError("the unsteered step is not deterministic; a steered/unsteered difference would mean nothing")
    image_tokens = (latent[2] // 2) * (latent[3] // 2)
    expected = [f"double:{i}" for i in range(double)] + [f"single:{i}" for i in range(single)]
    steered: dict[str, Any] = {}
    checks: dict[str, dict[str, Any]] = {}
    for mode in modes:
        t0 = time.perf_counter()
        steered[mode] = node.execute(model=model, direction=direction, strength=STRENGTH, mode=mode, sites="all",
                                     stream="both", start_percent=0.0, end_percent=1.0, cond_only=False).result[0]
        steer_model_s = time.perf_counter() - t0
        # the timed path must really be steered: outputs differ, and every call steered every block (stream
        # "both": a double block's image and text streams are two site calls, a single block's one)
        site_calls = 2 * double + single
        log: list[dict[str, Any]] = []
        out = step(_probe(steered[mode], log))
        diff = (out - plain).abs().max().item()
        if not bool(torch.isfinite(out).all()) or diff == 0.0:
            raise RuntimeError(f"mode {mode}: the steered step is not finite or equals the unsteered one (max diff {diff})")
        if not log or any(c["batch"] != 2 * latent[0] or sorted(c["cond_or_uncond"]) != [0, 1]
                          or c["sites"] != [(site_calls, site_calls)] for c in log):
            raise RuntimeError(f"mode {mode}: the steered calls were not a cond+uncond batch steered at all "
                               f"{len(expected)} blocks: {log}")
        checks[mode] = {"steer_model_s": steer_model_s, "max_abs_diff": diff, "model_calls": len(log)}
    # one round = the plain step and each steered step once (order rotated per round); a repeat's ratio =
    # median over its rounds of steered / plain within the round; rows give the median over repeats + range
    fns = {"plain": lambda: step(model), **{mode: (lambda m=m: step(m)) for mode, m in steered.items()}}
    stats = compare(fns, "plain", device, repeats=repeats, rounds=rounds)
    rows = []
    for mode in modes:
        rows.append({
            "bench": "dit_steer_step", "mode": mode, "model": "flux", "hidden": hidden, "double_blocks": double,
            "single_blocks": single, "latent": list(latent), "image_tokens": image_tokens, "text_tokens": text_tokens,
            "context_dim": CONTEXT_DIM, "categories": K, "batch": 2 * latent[0], "cfg": CFG, "cond_only": False,
            "sites": "all", "stream": "both", "space": "conditioning", "steered_blocks": len(expected),
            "dtype": str(dtype).replace("torch.", ""), "device": str(device), "threads": torch.get_num_threads(),
            **stats[mode], "steered_step_s": stats[mode]["seconds"], "plain_step_s": stats[mode]["reference_seconds"],
            **checks[mode], "plain_abs_max": plain.abs().max().item(), "target_ratio": target_ratio,
        })
    return rows


def profile(device: torch.device, mode: str = "add", rounds: int = 3, row_limit: int = 25) -> str:
    """Profiler tables (self CPU time per op) of ``rounds`` steered and unsteered steps, for finding the overhead."""
    nodes = _host(device)
    node = nodes.NODE_CLASS_MAPPINGS[NODE_ID]
    model = build_flux(device, torch.float32)
    positive, negative = _conditioning(2, TEXT_TOKENS), _conditioning(3, TEXT_TOKENS)
    samples = {"samples": torch.zeros(LATENT)}
    steered = node.execute(model=model, direction=_direction(), strength=STRENGTH, mode=mode, sites="all",
                           stream="both", start_percent=0.0, end_percent=1.0, cond_only=False).result[0]
    step: Callable[[Any], Any] = lambda m: nodes.common_ksampler(m, 0, 1, CFG, "euler", "simple", positive, negative, samples)
    return profile_tables(step, {"unsteered": model, f"steered ({mode})": steered}, device, rounds, row_limit)


def main() -> int:
    import argparse
    import json

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2, as in results-cpu.json)")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--profile", default=None, choices=MODES, help="print profiler tables for this mode instead")
    args = parser.parse_args()
    device = torch.device(args.device)
    if args.profile:
        torch.set_num_threads(args.threads)
        print(profile(device, args.profile))
        return 0
    rows = run(device, **{"threads": args.threads, **(QUICK if args.quick else {})})
    print(json.dumps(rows, indent=2))
    return 0


#: smaller shapes for ``run_all.py --quick``: the same code path and checks in seconds. Its step (~0.1 s) is
#: mostly sampler set-up and its ratio mostly noise, so it carries no target.
QUICK: dict[str, Any] = {"latent": (1, 16, 16, 16), "text_tokens": 16, "hidden": 256, "double": 1, "single": 2, "rounds": 1,
                         "repeats": 2, "target_ratio": None}

#: FLUX.1's own size (``run_all.py --scale flux``, for a GPU): hidden 3072 (24 heads of 128), 19 double + 38
#: single blocks (57), a 1024x1024 image (128x128 latent -> 4096 image tokens) and 512 T5 tokens.
FLUX: dict[str, Any] = {"latent": (1, 16, 128, 128), "text_tokens": 512, "hidden": 3072, "double": 19, "single": 38,
                        "rounds": 3, "repeats": 3}


if __name__ == "__main__":  # python -m bench.bench_dit [--quick] [--profile add]
    raise SystemExit(main())
