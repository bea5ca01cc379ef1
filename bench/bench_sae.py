"""SAE Blend/Repel: a steered FLUX-shaped step, the fast Repel path vs the full TopK path, and SAE training.

Three measurements, each a ratio taken within one run (the two sides interleaved, so drift and outside
load reach both alike):

1. ``sae_steer_step``: one sampling step of bench_dit's FLUX-shaped tiny ComfyUI Flux (hidden 256,
   4 double + 8 single blocks, 1024 image + 64 text tokens, cfg 2 so cond and uncond run as one batch of
   2) with SAE Blend/Repel at 4 sites (double:1, double:3, single:3, single:7; image stream) vs the same
   step on the plain model. Each SAE is a random TopK SAE with 16x expansion (``d_sae = 16 * 256``),
   ``k = 32``, its input scale and centering set from real block activations, and 16 harmful latents
   chosen by firing rate on those activations (recorded once from the model through the pack's own
   ``ActivationRecorder``) so that about 20 % of the tokens are gated; the fast path's thresholds are
   calibrated with ``calibrate_fast_thresholds`` against the TopK codes, and 16 other latents are the
   "safe" side of Blend. The steered model comes from the pack's node ``SafeSteerSAEBlendRepel``
   (``sae_steer_model``), executed with beta 0.5, gamma 1.0, sites "all", the whole sigma window and
   ``cond_only`` off (both rows steered), once with ``path="fast"`` (target 1.05) and once with
   ``path="full"`` (no target; exact TopK over all 4096 latents per token). Before timing, the benchmark
   checks that every call steered exactly the 4 sites, that each site saw every image token of both rows,
   and that the steered step differs from the deterministic plain one. ``gated_fraction`` is what the
   steerers inside the model counted during the timed steps (tokens with a harmful latent active).
   ``steerers_alone_s`` is a low-noise companion figure: fresh steerers for the 4 sites run on one plain
   call's recorded tokens (``steerers_alone_share`` = that / the plain step), what the steering itself costs
   without the model around it.
2. ``sae_fast_vs_full``: ``SAESteerer(path="fast")`` vs ``SAESteerer(path="full")`` (same SAE, features
   and beta/gamma) on the same ``[4096, 256]`` tokens: the first site's recorded block activations (two
   seeds); ``ratio`` = full / fast, ``gate_agreement`` = fraction of tokens on which the two gates agree.
   On CUDA the outputs of both paths are also checked against the CPU's (``cuda_check``): tokens gated on
   both devices within 1e-4 (``torch.allclose`` atol = rtol = 1e-4, TF32 off), ungated tokens bit-identical
   to the input, gates agreeing on at least 99.9 % of the tokens.
3. ``sae_train``: ``train_sae`` on random Gaussian activations of size 256 with 16x expansion, k = 32,
   batch 1024 (``tokens_per_second`` = tokens / seconds of the step loop, init and evaluation excluded),
   against a reference step with the same matmuls and Adam but ReLU instead of TopK and no AuxK / renorm /
   fire counters (``ratio`` = TopK SAE step / dense step, no target). Each round continues training the
   previous round's SAE (``init=``), so a run trains ``(rounds + 1) * steps`` steps in all.

Timing as in bench_dit: ``ratio`` is the median over rounds of the per-round ratio, ``cpu_ratio`` the same
for this process's CPU time, ``ratio_of_medians`` the ratio of the medians; ``threads`` (default 2) sets
torch's CPU threads for the run. In measurement 1 each path is compared with the plain step on its own, the
fast path with four times the rounds. The default CPU run takes about 2.5 minutes on a 2-core VM. As with bench_dit,
outside load on a shared machine raises the step ratio (four runs of the fast path: 1.01-1.09, the highest
at a plain step of 0.55 s instead of 0.38-0.45 s); ``plain_step_s`` tells the state.

Where the fast path's time goes (``--profile fast``, and per-stage timing of one site's call on 2048 tokens,
about 400 gated): about 2.3 ms in all, of which Repel's solve about 1.3 ms, the harmful pre-activations 0.3 ms,
Blend 0.2 ms, the write-back 0.15 ms. With these random SAEs about half of a token's harmful latents have a
positive pre-activation below the calibrated cut; Repel reads "off" by the fast gate's own thresholds, so the
first move (one latent for 92 % of the gated tokens, solved in closed form) is final for all but 2-5 % of them.
Before that change the loop also pushed those sub-threshold latents below zero: 3-4 batched 16x16 solves on
every gated token and about 7 ms per site and call.

Measurement 1 needs the ComfyUI host (``.comfyui/`` or ``$SAFESTEER_COMFYUI``, as bench_dit); without it
measurement 2 runs on Gaussian tokens (``tokens_source`` says which) and 1 is skipped. On CUDA, run in a
process of its own (``python -m bench.bench_sae --device cuda`` or ``bench/run_all.py --device cuda``):
ComfyUI picks its device once per process.
"""

from __future__ import annotations

import contextlib
import math
import statistics
import time
from collections.abc import Iterator
from typing import Any

import torch

from steering_core.sae.autoencoder import SafetyFeatures, SparseAutoencoder
from steering_core.sae.features import calibrate_fast_thresholds
from steering_core.sae.steering import SAESteerConfig, SAESteerer
from steering_core.sae.train import SAETrainConfig, train_sae
from steering_core.sae.safety_sae import SafetySAE, SiteSAE
from steering_core.steering.sites import Site

from . import bench_dit
from .bench_dit import (
    CFG,
    DOUBLE,
    HIDDEN,
    LATENT,
    SINGLE,
    TEXT_TOKENS,
    build_flux,
    host_available,
)
from .common import compare, profile_tables, round_robin_times, spread

NODE_ID = "SafeSteerSAEBlendRepel"
EXPANSION = 16
TOPK = 32
N_HARMFUL = 16
N_SAFE = 16
BETA = 0.5
GAMMA = 1.0
TARGET_GATED = 0.2
PATHS = ("fast", "full")
STEER_TOKENS = 4096
CUDA_TOL = 1e-4


def sites_for(double: int, single: int) -> tuple[Site, ...]:
    """2 double + 2 single blocks: the middle and the last of each kind (double:1, double:3, single:3, single:7)."""
    picks = [Site("double", i) for i in sorted({max(double // 2 - 1, 0), double - 1})]
    picks += [Site("single", i) for i in sorted({max(single // 2 - 1, 0), single - 1})]
    return tuple(picks)


# ---------------------------------------------------------------------------------- SAEs
def site_sae(acts: torch.Tensor, seed: int, expansion: int = EXPANSION, k: int = TOPK, n_harmful: int = N_HARMFUL,
             n_safe: int = N_SAFE, target_gated: float = TARGET_GATED) -> tuple[SparseAutoencoder, SafetyFeatures]:
    """A random TopK SAE fitted to ``acts [R, D]`` (input scale, centering) with harmful latents chosen by
    firing rate so that about ``target_gated`` of the tokens have one active, and calibrated fast thresholds."""
    acts = acts.reshape(-1, acts.shape[-1]).to("cpu", torch.float32)
    d = acts.shape[1]
    scale = math.sqrt(d / float(acts.double().pow(2).sum(1).mean()))
    sae = SparseAutoencoder(d, expansion * d, k=k, input_scale=scale, seed=seed)
    with torch.no_grad():
        sae.b_dec.copy_((acts * scale).mean(0))
        pre = sae.pre_activations(acts)
        codes = sae.activate(pre)
    on = codes > 0
    rate = on.float().mean(0)
    fired = torch.nonzero(rate > 0).reshape(-1)
    by_rate = fired[torch.argsort(rate[fired], stable=True)]
    if by_rate.numel() < n_harmful + n_safe:
        raise RuntimeError(f"only {by_rate.numel()} latents fire on the sample; need {n_harmful + n_safe}")

    def gated(start: int) -> float:
        return float(on[:, by_rate[start:start + n_harmful]].any(1).float().mean())

    # windows of n_harmful latents consecutive in firing rate: the gated fraction grows (almost) with the
    # window's position; bisect for the window closest to the target
    lo, hi = 0, by_rate.numel() - n_harmful - n_safe
    while lo < hi:
        mid = (lo + hi) // 2
        if gated(mid) < target_gated:
            lo = mid + 1
        else:
            hi = mid
    start = min((s for s in (lo - 1, lo) if s >= 0), key=lambda s: abs(gated(s) - target_gated))
    harmful = by_rate[start:start + n_harmful]
    safe = by_rate[start + n_harmful:start + n_harmful + n_safe]
    theta, agreement = calibrate_fast_thresholds(pre[:, harmful], on[:, harmful])
    topk_gate = on[:, harmful].any(1)
    fast_gate = ((pre[:, harmful] > theta) & (pre[:, harmful] > 0)).any(1)
    harm = codes[:, harmful].sum(1)
    features = SafetyFeatures(
        harmful=harmful, harmful_effect=torch.ones(n_harmful), fast_threshold=theta, safe=safe,
        safe_profile=codes[:, safe].mean(0), harm_scale=float(harm[topk_gate].mean()) if bool(topk_gate.any()) else 1.0,
        stats={"selection": "benchmark: random SAE, harmful latents chosen by firing rate",
               "n_calibration_tokens": int(acts.shape[0]),
               "topk_gated_fraction": float(topk_gate.float().mean()),
               "fast_gated_fraction": float(fast_gate.float().mean()),
               "fast_gate_agreement": float((fast_gate == topk_gate).float().mean()),
               "fast_agreement_per_latent_min": float(agreement.min())})
    return sae, features


# ---------------------------------------------------------------------------------- host helpers
def _pack_module(nodes: Any, name: str) -> Any:
    import sys

    package = nodes.NODE_CLASS_MAPPINGS[NODE_ID].__module__.rsplit(".", 1)[0]
    return sys.modules[f"{package}.{name}"]


def _step_fn(nodes: Any, latent: tuple[int, ...], text_tokens: int) -> Any:
    positive, negative = bench_dit._conditioning(2, text_tokens), bench_dit._conditioning(3, text_tokens)
    samples = {"samples": torch.zeros(latent)}

    def step(m: Any, seed: int = 0) -> torch.Tensor:
        return nodes.common_ksampler(m, seed, 1, CFG, "euler", "simple", positive, negative, samples)[0]["samples"]

    return step


def record_activations(nodes: Any, model: Any, step: Any, sites: tuple[Site, ...], calls: int) -> dict[Site, torch.Tensor]:
    """Image-token activations ``[R, H]`` at each site over ``calls`` plain steps (seeds 0, 1, ...), cond and
    uncond rows, recorded with the pack's ``ActivationRecorder`` through ``dit_patch.install``."""
    site_plans, dit_patch = _pack_module(nodes, "site_plans"), _pack_module(nodes, "dit_patch")
    info = _pack_module(nodes, "dit_adapter").inspect_model(model)
    got: dict[Site, list[torch.Tensor]] = {s: [] for s in sites}
    recorder = site_plans.ActivationRecorder(sites, lambda site, tokens, _call: got[site].append(tokens))
    recording = dit_patch.install(model, info, recorder.planner(cond_only=False), sites, "img",
                                  sigma_start=float("inf"), sigma_end=float("-inf"))
    for seed in range(calls):
        step(recording, seed)
    return {s: torch.cat([t.reshape(-1, t.shape[-1]) for t in got[s]]) for s in sites}


# ---------------------------------------------------------------------------------- 1. steered step
def _steerer_seconds(bundle: SafetySAE, acts: dict[Site, torch.Tensor], sites: tuple[Site, ...], per_call: int,
                     batch: int, paths: tuple[str, ...], rounds: int, device: torch.device) -> dict[str, float]:
    """Median seconds per step of the site steerers alone (fresh SAESteerers on one plain call's recorded
    image tokens per site, ``[batch, tokens, H]``): a low-noise estimate of what the steered step adds."""
    work = {}
    for path in paths:
        config = SAESteerConfig(beta=BETA, gamma=GAMMA, path=path)
        work[path] = [(SAESteerer(bundle.get(str(site)).sae.copy().to(device), bundle.get(str(site)).features, config),
                       acts[site][:per_call].reshape(batch, per_call // batch, -1).to(device)) for site in sites]
    times = round_robin_times({p: (lambda w=w: [st(x) for st, x in w]) for p, w in work.items()}, device, rounds=rounds)
    return {p: statistics.median(times[p]["wall"]) for p in paths}


def _steer_step_rows(nodes: Any, model: Any, step: Any, bundle: SafetySAE, acts: dict[Site, torch.Tensor],
                     sites: tuple[Site, ...], latent: tuple[int, ...], text_tokens: int, hidden: int, double: int,
                     single: int, rounds: int, paths: tuple[str, ...], target_ratio: float | None, device: torch.device,
                     dtype: torch.dtype, repeats: int = 3) -> list[dict[str, Any]]:
    node = nodes.NODE_CLASS_MAPPINGS[NODE_ID]
    plain = step(model)
    if not torch.equal(plain, step(model)):
        raise RuntimeError("the unsteered step is not deterministic; a steered/unsteered difference would mean nothing")
    image_tokens = (latent[2] // 2) * (latent[3] // 2)
    batch = 2 * latent[0]
    expected = [str(s) for s in sites]
    steered: dict[str, Any] = {}
    steerers: dict[str, dict[Site, SAESteerer]] = {}
    checks: dict[str, dict[str, Any]] = {}
    for path in paths:
        t0 = time.perf_counter()
        steered[path] = node.execute(model=model, sae=bundle, beta=BETA, gamma=GAMMA, sites="all", start_percent=0.0,
                                     end_percent=1.0, cond_only=False, path=path).result[0]
        steer_model_s = time.perf_counter() - t0
        log: list[dict[str, Any]] = []
        out = step(bench_dit._probe(steered[path], log))
        diff = (out - plain).abs().max().item()
        if not bool(torch.isfinite(out).all()) or diff == 0.0:
            raise RuntimeError(f"path {path}: the steered step is not finite or equals the unsteered one (max diff {diff})")
        if not log or any(c["batch"] != batch or c["sites"] != [(len(expected), len(expected))] for c in log):
            raise RuntimeError(f"path {path}: the calls were not a {batch}-row batch steered at exactly {expected}: "
                               f"{[{k: v for k, v in c.items() if k != 'editors'} for c in log]}")
        editors = log[0]["editors"][0]
        if sorted(map(str, editors)) != sorted(expected) or not all(isinstance(e, SAESteerer) for e in editors.values()):
            raise RuntimeError(f"path {path}: the call's plan does not hold one SAESteerer per site: {editors}")
        for site, steerer in editors.items():
            if steerer.stats.last_tokens != batch * image_tokens or steerer.config.path != path:
                raise RuntimeError(f"path {path}: {site} steered {steerer.stats.last_tokens} tokens "
                                   f"(expected {batch} x {image_tokens} image tokens) on path {steerer.config.path}")
            steerer.reset_stats()
        steerers[path] = editors
        checks[path] = {"steer_model_s": steer_model_s, "max_abs_diff": diff, "model_calls": len(log)}
    # each path against the plain step on its own: the fast path (the one with a target) gets four times the
    # rounds, as its 1-2 % cost sits inside a step whose time moves by 5-10 % from run to run on a shared VM
    ratios = {path: compare({"plain": lambda: step(model), path: lambda m=m: step(m)}, "plain", device,
                            repeats=repeats, rounds=4 * rounds if path == "fast" else rounds)[path]
              for path, m in steered.items()}
    alone = _steerer_seconds(bundle, acts, sites, batch * image_tokens, batch, paths, rounds, device)
    rows = []
    for path in paths:
        stats = {str(s): st.stats for s, st in steerers[path].items()}
        tokens, gated = sum(s.tokens for s in stats.values()), sum(s.gated for s in stats.values())
        plain_s = ratios[path]["reference_seconds"]
        rows.append({
            "bench": "sae_steer_step", "mode": path, "path": path, "model": "flux", "hidden": hidden,
            "double_blocks": double, "single_blocks": single, "latent": list(latent), "image_tokens": image_tokens,
            "text_tokens": text_tokens, "batch": batch, "cfg": CFG, "cond_only": False, "stream": "img",
            "sites": expected, "d_sae": EXPANSION * hidden, "expansion": EXPANSION, "k": TOPK,
            "n_harmful": N_HARMFUL, "n_safe": N_SAFE, "beta": BETA, "gamma": GAMMA,
            "gated_fraction": gated / tokens if tokens else 0.0,
            "gated_fraction_per_site": {k: (s.gated / s.tokens if s.tokens else 0.0) for k, s in stats.items()},
            "max_active_set_rounds": max(s.max_rounds for s in stats.values()),
            "dtype": str(dtype).replace("torch.", ""), "device": str(device), "threads": torch.get_num_threads(),
            **ratios[path], "steered_step_s": ratios[path]["seconds"], "plain_step_s": plain_s,
            "steerers_alone_s": alone[path], "steerers_alone_share": alone[path] / plain_s,
            **checks[path], "plain_abs_max": plain.abs().max().item(),
            "target_ratio": target_ratio if path == "fast" else None,
        })
    return rows


# ---------------------------------------------------------------------------------- 2. fast vs full
@contextlib.contextmanager
def _no_tf32() -> Iterator[None]:
    """TF32 matmuls off (restored after), so CUDA float32 results are comparable with the CPU's."""
    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def _cuda_check(sae: SparseAutoencoder, features: SafetyFeatures, tokens: torch.Tensor,
                device: torch.device) -> dict[str, Any]:
    """Both paths on ``device`` vs on the CPU: gated-on-both tokens within CUDA_TOL, ungated tokens
    bit-identical to the input on both devices, gates agreeing on >= 99.9 % of the tokens."""
    x_cpu = tokens.to("cpu", torch.float32)
    x_dev = x_cpu.to(device)
    sae_dev = sae.copy().to(device)
    result: dict[str, Any] = {"tolerance": CUDA_TOL}
    with _no_tf32():
        for path in PATHS:
            config = SAESteerConfig(beta=BETA, gamma=GAMMA, path=path)
            cpu_steerer, dev_steerer = SAESteerer(sae, features, config), SAESteerer(sae_dev, features, config)
            gate_cpu, gate_dev = cpu_steerer.active_mask(x_cpu), dev_steerer.active_mask(x_dev).cpu()
            out_cpu, out_dev = cpu_steerer(x_cpu), dev_steerer(x_dev).cpu()
            both = gate_cpu & gate_dev
            diff = (out_dev[both] - out_cpu[both]).abs()
            close = bool(torch.allclose(out_dev[both], out_cpu[both], atol=CUDA_TOL, rtol=CUDA_TOL))
            ungated_cpu = bool(torch.equal(out_cpu[~gate_cpu], x_cpu[~gate_cpu]))
            ungated_dev = bool(torch.equal(out_dev[~gate_dev], x_cpu[~gate_dev]))
            agreement = float((gate_cpu == gate_dev).float().mean())
            result[path] = {"gate_agreement": agreement, "gated_both": int(both.sum()),
                            "max_abs_diff": float(diff.max()) if diff.numel() else 0.0,
                            "max_rel_diff": float((diff / out_cpu[both].abs().clamp_min(1.0)).max()) if diff.numel() else 0.0,
                            "allclose": close, "ungated_bit_identical": ungated_cpu and ungated_dev}
            if not (close and ungated_cpu and ungated_dev and agreement >= 0.999):
                raise RuntimeError(f"CUDA and CPU disagree on the {path} path: {result[path]}")
    return result


def _fast_full_row(sae: SparseAutoencoder, features: SafetyFeatures, tokens: torch.Tensor, source: str,
                   rounds: int, device: torch.device, repeats: int = 3, cross_check: bool = False) -> dict[str, Any]:
    sae_dev = sae.copy().to(device)
    x = tokens.to(device, torch.float32)
    steerers = {path: SAESteerer(sae_dev, features, SAESteerConfig(beta=BETA, gamma=GAMMA, path=path)) for path in PATHS}
    gates = {path: s.active_mask(x) for path, s in steerers.items()}
    outs = {path: s(x) for path, s in steerers.items()}
    both = gates["fast"] & gates["full"]
    stats = compare({path: (lambda s=s: s(x)) for path, s in steerers.items()}, "fast", device, repeats=repeats,
                    rounds=rounds)["full"]
    row = {
        "bench": "sae_fast_vs_full", "mode": "full/fast", "tokens": int(x.shape[0]), "hidden": sae.d_in,
        "d_sae": sae.d_sae, "k": sae.k, "n_harmful": int(features.harmful.numel()), "beta": BETA, "gamma": GAMMA,
        "tokens_source": source, "device": str(device), "threads": torch.get_num_threads(), **stats,
        "fast_s": stats["reference_seconds"], "full_s": stats["seconds"],
        "gate_agreement": float((gates["fast"] == gates["full"]).float().mean()),
        "gated_fraction_fast": float(gates["fast"].float().mean()),
        "gated_fraction_full": float(gates["full"].float().mean()),
        "same_output_where_both_gated": float((outs["fast"][both] == outs["full"][both]).all(1).float().mean())
        if bool(both.any()) else None,
        "target_ratio": None,
    }
    if cross_check or device.type == "cuda":
        row["cuda_check"] = _cuda_check(sae, features, tokens, device)
    return row


# ---------------------------------------------------------------------------------- 4. device memory
def _tensor_bytes(tensors: list[torch.Tensor]) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


def memory_row(device: torch.device, hidden: int = 3072, expansion: int = EXPANSION, n_harmful: int = N_HARMFUL,
               n_safe: int = N_SAFE, sites: int = 4, tokens: int = 2 * 4096, target_mb: float = 64.0) -> dict[str, Any]:
    """What SAE Blend/Repel keeps on the model's device per site, at FLUX scale by default (hidden 3072,
    16x SAE, 2 x 4096 image tokens per call), fast and full path.

    ``resident_bytes``: the steerer's per-device constants (``SAESteerer._on``), plus on the full path the
    SAE it runs there. On CUDA the SAE lives on the CPU (as the node loads it) and the figures are
    ``torch.cuda.memory_allocated`` before / after the steerer's first call; on the CPU they are the tensors'
    own bytes (a proxy: the CPU is the SAE's home, so nothing is copied). ``call_peak_bytes``: the peak
    allocated during one call above the input, its output (one activation tensor) excluded.
    """
    from .common import peak_extra_bytes

    sae = SparseAutoencoder(hidden, expansion * hidden, k=TOPK, seed=3)
    gen = torch.Generator().manual_seed(4)
    x = torch.randn(tokens, hidden, generator=gen)
    with torch.no_grad():
        sae.b_dec.copy_(x.mean(0))
    latents = torch.randperm(sae.d_sae, generator=gen)[:n_harmful + n_safe]
    features = SafetyFeatures(harmful=latents[:n_harmful], harmful_effect=torch.ones(n_harmful),
                              fast_threshold=torch.zeros(n_harmful), safe=latents[n_harmful:],
                              safe_profile=torch.full((n_safe,), 0.1), harm_scale=1.0)
    x_dev = x.to(device)
    out_bytes = x.numel() * x.element_size()
    row: dict[str, Any] = {"bench": "sae_device_memory", "mode": "per site", "hidden": hidden,
                           "d_sae": sae.d_sae, "n_harmful": n_harmful, "n_safe": n_safe, "tokens": tokens,
                           "sites": sites, "device": str(device),
                           "sae_bytes": _tensor_bytes([sae.W_enc, sae.W_dec, sae.b_enc, sae.b_dec]),
                           "target_mb": target_mb, "target_ratio": None}
    for path in PATHS:
        steerer = SAESteerer(sae, features, SAESteerConfig(beta=BETA, gamma=GAMMA, path=path))
        if device.type == "cuda":
            torch.cuda.synchronize(device)
            before = torch.cuda.memory_allocated(device)
            steerer(x_dev)
            torch.cuda.synchronize(device)
            resident = torch.cuda.memory_allocated(device) - before
        else:
            held = steerer._on(device, full=path == "full")
            resident = _tensor_bytes(held.fast_path_tensors())
            if path == "full":
                resident += row["sae_bytes"]
        peak = peak_extra_bytes(lambda s=steerer: s(x_dev), device)
        row[f"{path}_resident_bytes"] = int(resident)
        row[f"{path}_resident_mb"] = resident / 2**20
        row[f"{path}_call_peak_extra_mb"] = max(0, peak - out_bytes) / 2**20
        row[f"{path}_gated_fraction"] = float(steerer.stats.last_gated / max(1, steerer.stats.last_tokens))
    row["fast_total_mb"] = sites * row["fast_resident_mb"]
    row["ok"] = row["fast_resident_mb"] <= target_mb
    return row


# ---------------------------------------------------------------------------------- 3. training
def _dense_step_fn(d: int, d_sae: int, data: torch.Tensor, batch: int, steps: int, device: torch.device) -> Any:
    """``steps`` steps of a dense (ReLU) autoencoder with TopK training's matmul shapes and Adam."""
    ref = SparseAutoencoder(d, d_sae, k=1, activation="relu", seed=1).to(device)
    params = [ref.W_enc, ref.b_enc, ref.W_dec, ref.b_dec]
    opt = torch.optim.Adam(params, lr=1e-4)
    n_batches = data.shape[0] // batch

    def run_steps() -> None:
        for i in range(steps):
            x = data[(i % n_batches) * batch:(i % n_batches + 1) * batch].to(device)
            recon = torch.relu(ref.pre_activations(x)) @ ref.W_dec + ref.b_dec
            loss = (recon - x).pow(2).sum() / (x - x.mean(0)).pow(2).sum().clamp_min(1e-12)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

    return run_steps


def _train_row(hidden: int, rows: int, batch: int, steps: int, rounds: int, dense_steps: int,
               device: torch.device) -> dict[str, Any]:
    data = torch.randn(rows, hidden, generator=torch.Generator().manual_seed(5))
    d_sae = EXPANSION * hidden
    config = SAETrainConfig(k=TOPK, expansion=EXPANSION, batch_size=batch, steps=steps, checkpoint_every=0,
                            init_sample=min(rows, 16384))
    reports: list[Any] = []
    state: dict[str, Any] = {"sae": None}

    def train() -> None:
        sae, report = train_sae(data, config, device=device, init=state["sae"])
        state["sae"] = sae
        reports.append(report)

    dense = _dense_step_fn(hidden, d_sae, data, batch, dense_steps, device)
    times = round_robin_times({"train": train, "dense": dense}, device, rounds=rounds)
    timed = reports[1:]  # the first call is round_robin_times' warm-up (and the data-driven initialisation)
    train_step = [r.seconds / r.steps for r in timed]
    dense_step = [w / dense_steps for w in times["dense"]["wall"]]
    pair = [a / b for a, b in zip(train_step, dense_step)]
    last = reports[-1]
    return {
        "bench": "sae_train", "mode": f"topk k={TOPK} x{EXPANSION}", "hidden": hidden, "d_sae": d_sae, "k": TOPK,
        "batch_size": batch, "steps_per_round": steps, "rounds": rounds, "steps_total": sum(r.steps for r in reports),
        "data": f"gaussian [{rows}, {hidden}]", "device": str(device), "threads": torch.get_num_threads(),
        "tokens_per_second": sum(r.tokens for r in timed) / sum(r.seconds for r in timed),
        "round_tokens_per_second": [r.tokens_per_second for r in timed],
        "train_step_s": statistics.median(train_step), "dense_step_s": statistics.median(dense_step),
        **spread(pair), "train_call_s": statistics.median(times["train"]["wall"]),
        "normalized_mse": last.normalized_mse, "l0": last.l0, "lr": last.lr, "target_ratio": None,
    }


# ---------------------------------------------------------------------------------- run
def run(device: torch.device, dtype: torch.dtype = torch.float32, latent: tuple[int, ...] = LATENT,
        text_tokens: int = TEXT_TOKENS, hidden: int = HIDDEN, double: int = DOUBLE, single: int = SINGLE,
        rounds: int = 3, paths: tuple[str, ...] = PATHS, threads: int | None = 2, target_ratio: float | None = 1.03,
        steer_tokens: int = STEER_TOKENS, steer_rounds: int = 3, repeats: int = 5, train_rows: int = 16384, train_batch: int = 1024,
        train_steps: int = 40, train_rounds: int = 5, dense_steps: int = 20,
        host: bool | None = None, cross_check: bool = False, steps_only: bool = False) -> list[dict[str, Any]]:
    """Rows of the three measurements (module docstring); ``host`` None: use ComfyUI when it is installed;
    ``steps_only``: only the steered-step rows (for a second dtype); ``cross_check``: compare both paths with
    the CPU's results (always on CUDA)."""
    previous_threads = torch.get_num_threads()
    if threads is not None and device.type == "cpu":
        torch.set_num_threads(threads)
    try:
        host = host_available() if host is None else host
        rows: list[dict[str, Any]] = []
        sites = sites_for(double, single)
        if host:
            nodes = bench_dit._host(device)
            if NODE_ID not in nodes.NODE_CLASS_MAPPINGS:
                raise RuntimeError(f"the pack loaded by ComfyUI has no {NODE_ID} node")
            model = build_flux(device, dtype, hidden, double, single)
            step = _step_fn(nodes, latent, text_tokens)
            per_call = 2 * latent[0] * (latent[2] // 2) * (latent[3] // 2)
            acts = record_activations(nodes, model, step, sites, max(1, math.ceil(steer_tokens / per_call)))
            entries = []
            for i, site in enumerate(sites):
                sae, features = site_sae(acts[site], seed=10 + i)
                entries.append(SiteSAE(str(site), "img", sae, features))
            bundle = SafetySAE(entries, {"class": "Flux", "hidden_size": hidden, "note": "benchmark: random SAEs"})
            rows += _steer_step_rows(nodes, model, step, bundle, acts, sites, latent, text_tokens, hidden, double, single,
                                     rounds, paths, target_ratio, device, dtype, repeats)
            if steps_only:
                return rows
            first = entries[0]
            tokens = acts[sites[0]][:steer_tokens]
            source = f"flux block activations at {sites[0]} (img tokens, cond + uncond, seeds 0..)"
            sae, features = first.sae, first.features
            assert features is not None
        else:
            tokens = torch.randn(steer_tokens, hidden, generator=torch.Generator().manual_seed(4)) * 3.0 + 1.0
            source = "gaussian (no ComfyUI host)"
            sae, features = site_sae(tokens, seed=10)
        if steps_only:
            return rows
        rows.append(_fast_full_row(sae, features, tokens, source, steer_rounds, device, repeats, cross_check))
        rows[-1]["selection"] = dict(features.stats)
        rows.append(_train_row(hidden, train_rows, train_batch, train_steps, train_rounds, dense_steps, device))
        return rows
    finally:
        torch.set_num_threads(previous_threads)


def profile(device: torch.device, path: str = "fast", rounds: int = 3, row_limit: int = 25) -> str:
    """Profiler tables (self CPU time per op) of ``rounds`` steered and unsteered steps."""
    nodes = bench_dit._host(device)
    model = build_flux(device, torch.float32)
    step = _step_fn(nodes, LATENT, TEXT_TOKENS)
    sites = sites_for(DOUBLE, SINGLE)
    acts = record_activations(nodes, model, step, sites, 2)
    bundle = SafetySAE([SiteSAE(str(s), "img", *site_sae(acts[s], seed=10 + i)) for i, s in enumerate(sites)])
    steered = nodes.NODE_CLASS_MAPPINGS[NODE_ID].execute(model=model, sae=bundle, beta=BETA, gamma=GAMMA, sites="all",
                                                         start_percent=0.0, end_percent=1.0, cond_only=False,
                                                         path=path).result[0]
    return profile_tables(step, {"unsteered": model, f"steered ({path})": steered}, device, rounds, row_limit)


#: smaller shapes for ``run_all.py --quick``: the same code paths and checks in seconds (tiny model with
#: 2 double + 2 single blocks, 64 image tokens; a few training steps). Ratios are mostly noise: no target.
QUICK: dict[str, Any] = {"latent": (1, 16, 16, 16), "text_tokens": 16, "hidden": 256, "double": 2, "single": 2,
                         "rounds": 1, "repeats": 2, "target_ratio": None, "steer_tokens": 256, "steer_rounds": 1, "train_rows": 1024,
                         "train_batch": 256, "train_steps": 3, "train_rounds": 2, "dense_steps": 2}


#: FLUX.1's own size (``run_all.py --scale flux``, for a GPU), as bench_dit.FLUX; SAEs of 16 x 3072 latents.
FLUX: dict[str, Any] = {"latent": bench_dit.FLUX["latent"], "text_tokens": bench_dit.FLUX["text_tokens"],
                        "hidden": bench_dit.FLUX["hidden"], "double": bench_dit.FLUX["double"],
                        "single": bench_dit.FLUX["single"], "steer_tokens": 8192, "train_rows": 65536}


def main() -> int:
    import argparse
    import json
    from pathlib import Path

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2, as in results-cpu.json)")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default=None, help="also write the rows to this JSON file")
    parser.add_argument("--profile", default=None, choices=PATHS, help="print profiler tables for this path instead")
    args = parser.parse_args()
    device = torch.device(args.device)
    if args.profile:
        torch.set_num_threads(args.threads)
        print(profile(device, args.profile))
        return 0
    t0 = time.perf_counter()
    rows = run(device, **{"threads": args.threads, **(QUICK if args.quick else {})})
    print(json.dumps(rows, indent=2))
    print(f"bench_sae: {time.perf_counter() - t0:.1f} s")
    if args.out:
        Path(args.out).write_text(json.dumps({"rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":  # python -m bench.bench_sae [--quick] [--device cuda] [--profile fast]
    raise SystemExit(main())
