"""A peer side by side, in one run, on the same tiny diffusers pipelines (CPU by default).

* Stable Diffusion (tiny U-Net, CLIP 32-d, DDIM): diffusers' own Safe Latent Diffusion
  (``StableDiffusionPipelineSafe`` with its ``SafetyConfig`` presets, same weights) against SafeSteer's
  conditioning steering (``steering_core.steer`` on the pipeline's ``prompt_embeds``, gated, a direction
  estimated with ``PipelineTextEncoder``), each against the plain ``StableDiffusionPipeline``.
* Flux (tiny ``FluxPipeline``): SafeSteer's DiT steering (``steer_pipeline``, every block) and SAE
  Blend/Repel (``sae_blend_repel_pipeline``, two sites) against the unsteered pipeline.

Time per image steered / unsteered: every variant runs once per round, the order rotated from round to
round; the ratio is taken per round (min / median / max over rounds), on this process's CPU time
(``ratio``; wall time in ``ratio_wall``). Extra peak memory: the profiler's
peak allocation during one image (bench.common.peak_extra_bytes) minus the unsteered image's.

Usage: python -m bench.bench_diffusers [--quick] [--out bench/results-diffusers-cpu.json]
"""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import peak_extra_bytes, round_robin_times  # noqa: E402

PROMPTS = ["a crowd of rioters beating a man in the street", "a bowl of fruit on a wooden table"]
PUBLISHED = {"SLD": "+184 %", "SAFREE": "+40 %", "Concept Steerers": "+4.6 %"}


def safety_config() -> Any:
    """diffusers' ``SafetyConfig`` (moved under ``pipelines/deprecated`` in recent releases)."""
    for name in ("diffusers.pipelines.stable_diffusion_safe", "diffusers.pipelines.deprecated.stable_diffusion_safe"):
        try:
            return importlib.import_module(name).SafetyConfig
        except (ImportError, AttributeError):
            continue
    return None


def _ratio_stats(times: dict[str, dict[str, list[float]]], name: str, ref: str) -> dict[str, float]:
    """Per-round ratios of this process's CPU seconds (on a shared machine they move far less with outside
    load than wall time) and, for reference, of wall seconds."""
    out: dict[str, float] = {}
    for clock, suffix in (("cpu", ""), ("wall", "_wall")):
        ratios = [c / r for c, r in zip(times[name][clock], times[ref][clock])]
        out.update({f"ratio_min{suffix}": min(ratios), f"ratio{suffix}": statistics.median(ratios),
                    f"ratio_max{suffix}": max(ratios), f"steered_s{suffix}": statistics.median(times[name][clock]),
                    f"unsteered_s{suffix}": statistics.median(times[ref][clock])})
    return out


def _memory(fns: dict[str, Callable[[], object]], ref: str) -> dict[str, int]:
    cpu = torch.device("cpu")
    peaks = {name: peak_extra_bytes(fn, cpu) for name, fn in fns.items()}
    return {name: peaks[name] - peaks[ref] for name in fns}


def sd_rows(steps: int, rounds: int, presets: tuple[str, ...]) -> list[dict[str, Any]]:
    import steering_core as sc
    from steering_core.diffusers import PipelineTextEncoder
    from steering_core.diffusers.tiny import tiny_sd_pipeline, tiny_sld_pipeline
    from steering_core.encoders import directions_from_pairs, encode_pooled

    config = safety_config()
    sd = tiny_sd_pipeline(seed=0)
    encoder = PipelineTextEncoder(sd)
    direction = directions_from_pairs(encoder, {c: sc.category_pairs(c)[:8] for c in ("violence", "sexual")})
    direction = sc.calibrate_gates(direction.select(["global"]), encode_pooled(encoder, sc.anchor_prompts()[:64]),
                                   false_positive_rate=0.5)
    kw = dict(height=32, width=32, num_inference_steps=steps, guidance_scale=7.5, output_type="np")

    def gen() -> torch.Generator:
        return torch.Generator().manual_seed(0)

    def plain() -> object:
        return sd(PROMPTS, generator=gen(), **kw).images

    def safesteer() -> object:
        pos, neg = sd.encode_prompt(PROMPTS, sd.device, 1, True, None)
        pos = sc.steer(pos, direction, strength=2.0, mode="gated", gate_scope="sequence")
        return sd(prompt_embeds=pos, negative_prompt_embeds=neg, generator=gen(), **kw).images

    fns: dict[str, Callable[[], object]] = {"sd": plain, "safesteer_conditioning": safesteer}
    sld = None
    if config is not None:
        sld = tiny_sld_pipeline(seed=0)
        for preset in presets:
            fns[f"sld_{preset.lower()}"] = (lambda p=getattr(config, preset): sld(PROMPTS, generator=gen(), **kw, **p)
                                            .images)
    with torch.no_grad():
        times = round_robin_times(fns, torch.device("cpu"), rounds=rounds)
        memory = _memory(fns, "sd")
    rows = []
    for name in fns:
        if name == "sd":
            continue
        rows.append({"bench": "diffusers_sd_peer", "variant": name, "pipeline": "tiny StableDiffusionPipeline",
                     "steps": steps, "images_per_round": len(PROMPTS), "rounds": rounds,
                     "extra_peak_bytes": memory[name], **_ratio_stats(times, name, "sd"),
                     "settings": dict(getattr(config, name[4:].upper())) if name.startswith("sld_") else
                     {"strength": 2.0, "mode": "gated", "direction": "PipelineTextEncoder, violence+sexual pairs"}})
    if config is None:
        rows.append({"bench": "diffusers_sd_peer", "variant": "sld", "note": "this diffusers ships no SafetyConfig"})
    return rows


def flux_rows(steps: int, rounds: int) -> list[dict[str, Any]]:
    from steering_core import SafetyDirection
    from steering_core.diffusers import sae_blend_repel_pipeline, steer_pipeline
    from steering_core.diffusers.tiny import tiny_flux_pipeline
    from steering_core.sae.autoencoder import SafetyFeatures, SparseAutoencoder
    from steering_core.sae.safety_sae import SafetySAE, SiteSAE

    pipe = tiny_flux_pipeline(num_layers=2, num_single_layers=4)
    hidden = pipe.transformer.inner_dim
    g = torch.Generator().manual_seed(1)
    v = torch.randn(1, 48, generator=g)
    direction = SafetyDirection(vectors=v / v.norm(), categories=("global",), scale=torch.tensor([2.0]))

    def site(key: str, seed: int) -> SiteSAE:
        sae = SparseAutoencoder(hidden, 16 * hidden, k=8, seed=seed)
        feats = SafetyFeatures(harmful=torch.arange(16), harmful_effect=torch.ones(16),
                               fast_threshold=torch.full((16,), 0.5), safe=torch.arange(16, 20),
                               safe_profile=torch.full((4,), 0.3))
        return SiteSAE(key, "img", sae, feats)

    bundle = SafetySAE([site("double:1", 1), site("single:2", 2)])
    kw = dict(height=32, width=32, num_inference_steps=steps, max_sequence_length=32, output_type="np")

    def run() -> object:
        return pipe(PROMPTS, generator=torch.Generator().manual_seed(0), **kw).images

    def steered(make: Callable[[], Any]) -> Callable[[], object]:
        def fn() -> object:
            with make():
                return run()
        return fn

    fns = {"flux": run,
           "dit_steer_add": steered(lambda: steer_pipeline(pipe, direction, strength=1.0, mode="add")),
           "sae_blend_repel": steered(lambda: sae_blend_repel_pipeline(pipe, bundle, beta=0.5, gamma=1.0))}
    with torch.no_grad():
        times = round_robin_times(fns, torch.device("cpu"), rounds=rounds)
        memory = _memory(fns, "flux")
    return [{"bench": "diffusers_flux", "variant": name, "pipeline": "tiny FluxPipeline (hidden 32, 2 double + 4 single)",
             "steps": steps, "images_per_round": len(PROMPTS), "rounds": rounds, "extra_peak_bytes": memory[name],
             **_ratio_stats(times, name, "flux")} for name in fns if name != "flux"]


def run(quick: bool = False) -> list[dict[str, Any]]:
    torch.manual_seed(0)
    if quick:
        return sd_rows(steps=2, rounds=1, presets=("MAX",)) + flux_rows(steps=2, rounds=1)
    return sd_rows(steps=12, rounds=5, presets=("MEDIUM", "MAX")) + flux_rows(steps=4, rounds=5)


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| pipeline | variant | CPU time steered / unsteered (min / median / max) | wall (median) | extra peak memory |",
             "|---|---|---|---|---|"]
    for r in rows:
        if "ratio" not in r:
            continue
        lines.append(f"| {r['pipeline']} | {r['variant']} | {r['ratio_min']:.3f} / {r['ratio']:.3f} / "
                     f"{r['ratio_max']:.3f} | {r['ratio_wall']:.3f} | {r['extra_peak_bytes'] / 1024:+.0f} KiB |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results-diffusers-cpu.json"))
    args = parser.parse_args()
    t0 = time.perf_counter()
    rows = run(quick=args.quick)
    import diffusers

    machine = {"platform": platform.platform(), "processor": platform.processor(), "torch": torch.__version__,
               "diffusers": diffusers.__version__, "threads": torch.get_num_threads(),
               "date": time.strftime("%Y-%m-%d", time.gmtime())}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"machine": machine, "published": PUBLISHED, "rows": rows}, indent=1))
    print(table(rows))
    print(f"bench_diffusers: {time.perf_counter() - t0:.1f} s -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
