"""ComfyUI's own TorchCompileModel node in front of and behind SafeSteer's model patches, on the tiny Flux.

For DiT Safety Steer, SAE Blend/Repel and Safety Monitor, each placed behind the compile node (compile
first, then the SafeSteer node) and in front of it (the SafeSteer node first): ComfyUI's KSampler code
samples the compiled model, and

* its latent equals the eager latent of the same patches (no compile node) within ``ATOL`` (the
  monitor's scores, step by step, too);
* the steering acted: the eager latent differs from the unsteered model's by more than ``10 * ATOL``;
* nothing recompiles from one sampling step to the next: the compilation count read after every model
  call of a ``STEPS``-step run (new sigma, new activations, a new per-call plan every step) stays at
  what the first call compiled;
* the run's ledger (what the node reports on the sampler) is the eager run's: the same planned model calls,
  reached and edited site calls and report text, so a compiled run whose gates never open (or whose SAE's
  harmful features never fire) says so exactly as the eager run does.

Compilations are counted by Dynamo's ``CompileCounterWithBackend`` around ``aot_eager`` (Dynamo's full
trace and AOTAutograd: where graph breaks, guards and recompiles show, with no C++ toolchain per graph),
registered under a backend name, because the node hands its ``backend`` string to ``torch.compile``,
which resolves registered names. (The node's own combo offers ``inductor``: the same case behind DiT Safety
Steer passed with it too, but took 2.4 min of C++ compilation on 2 cores, so inductor is tested on the
per-site edit alone, in test_compile.py.)
"""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest
import torch
from torch._dynamo.testing import CompileCounterWithBackend

from steering_core.sae.safety_sae import SafetySAE, SiteSAE
from steering_core.sae.autoencoder import SafetyFeatures, SparseAutoencoder
from steering_core.steering.sites import Site

from steering_core.directions.direction import SafetyDirection

from test_dit_host import add_recorders, conditioning_direction, pack_module, sample

STEPS = 3
#: Largest |compiled - eager| allowed on a latent or a monitor score (aot_eager reorders no float op: the
#: runs measured 0.0).
ATOL = 1e-5
SAE_SITES = (Site("double", 1), Site("single", 1))
_names = itertools.count()


@pytest.fixture(autouse=True)
def _fresh_dynamo():
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


@pytest.fixture
def pytorch_attention(host, monkeypatch):
    """The tiny Flux attends with ComfyUI's ``attention_pytorch`` (its choice on GPUs). ComfyUI's CPU default,
    sub-quadratic attention, reads the free memory with psutil on every call: Dynamo breaks the graph there
    and guards on the number read, so it recompiles whenever free memory changes, SafeSteer or not."""
    import comfy.ldm.flux.math as flux_math
    import comfy.ldm.modules.attention as attention

    assert hasattr(flux_math, "optimized_attention") and hasattr(attention, "attention_pytorch")
    monkeypatch.setattr(flux_math, "optimized_attention", attention.attention_pytorch)


def counting_backend(backend: str) -> tuple[str, CompileCounterWithBackend]:
    """A fresh backend name the compile node can be given, and the counter behind it."""
    counter = CompileCounterWithBackend(backend)
    name = f"safesteer_test_{backend}_{next(_names)}"
    torch._dynamo.register_backend(compiler_fn=counter, name=name)
    return name, counter


def compile_node(host, model, backend: str):
    return host.node_class_mappings["TorchCompileModel"].execute(model, backend).result[0]


def counted_calls(model, counter: CompileCounterWithBackend):
    """A clone of ``model`` that appends ``counter.frame_count`` to the returned list after every model call."""
    import comfy.patcher_extension

    m = model.clone()
    counts: list[int] = []

    def after_call(executor, *args, **kwargs):
        out = executor(*args, **kwargs)
        counts.append(counter.frame_count)
        return out

    m.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.APPLY_MODEL, "safesteer.test.compile_count", after_call)
    return m, counts


def flux_bundle(host, tm, model) -> SafetySAE:
    """An SAE per site whose 'harmful' latents fire on about a third of the tiny Flux's block tokens."""
    sites = [(s.kind, s.index) for s in SAE_SITES]
    recorded, log = add_recorders(model, sites)
    sample(host, tm, recorded, "flux", steps=2)
    entries = []
    for seed, site in enumerate(SAE_SITES):
        acts = torch.cat([r.out["img"].reshape(-1, r.out["img"].shape[-1]) for r in log if r.site == sites[seed]])
        sae = SparseAutoencoder(acts.shape[-1], 128, k=8, seed=seed)
        with torch.no_grad():
            sae.b_dec.copy_(acts.mean(0))
            codes = sae.encode(acts)
        rate = (codes > 0).float().mean(0)
        order = torch.argsort((rate - 0.3).abs())
        harmful, safe = order[:3], order[3:6]
        features = SafetyFeatures(harmful, torch.ones(3), torch.zeros(3), safe, torch.full((3,), 0.5),
                                  harm_scale=float(codes[:, harmful].sum(-1).mean()) + 1e-3)
        entries.append(SiteSAE(str(site), "img", sae, features))
    return SafetySAE(entries, {"class": "Flux", "hidden_size": int(model.model.diffusion_model.hidden_size)})


@pytest.fixture(scope="module")
def flux(host, tm):
    model = tm.build_model("flux", seed=0)
    direction = conditioning_direction(tm.arch("flux").context_dim, seed=3)
    return model, direction, flux_bundle(host, tm, model)


def patch(host, kind: str, model, direction, bundle):
    """The SafeSteer node ``kind`` on ``model``: (patched model, monitor log or None)."""
    nodes = host.node_class_mappings
    if kind == "dit":
        return nodes["SafeSteerDiTSteer"].execute(model, direction, 2.0, "add", "all", "img", 0.0, 1.0, True,
                                                  "auto").result[0], None
    if kind == "sae":
        return nodes["SafeSteerSAEBlendRepel"].execute(model, bundle, 0.7, 1.0, "all", 0.0, 1.0, True,
                                                       "fast").result[0], None
    watched, log = nodes["SafeSteerSafetyMonitor"].execute(model, direction, "double:1, single:1", "img", "",
                                                           kind).result
    return watched, log


def ledger_view(host, model) -> list[tuple[int, int, int, str]]:
    """(planned model calls, reached site calls, edited site calls, report) of each SafeSteer patch on ``model``,
    after a sampling run."""
    return [(g.planned, g.reached, g.edited, g.report) for g in pack_module(host, "run_ledger").ledgers_of(model)]


def scores(log) -> dict[tuple[int, str, str], float]:
    return {(s.step, s.branch, s.site): s.score for s in log.scores}


@pytest.mark.parametrize("order", ["compile_first", "steer_first"])
@pytest.mark.parametrize("kind", ["dit", "sae", "monitor"])
def test_compiled_sampling_equals_eager_and_compiles_once(host, tm, flux, pytorch_attention, kind: str,
                                                          order: str) -> None:
    model, direction, bundle = flux
    eager, eager_log = patch(host, kind, model, direction, bundle)
    reference = sample(host, tm, eager, "flux", steps=STEPS)
    name, counter = counting_backend("aot_eager")
    if order == "compile_first":
        compiled, log = patch(host, kind, compile_node(host, model, name), direction, bundle)
    else:
        steered, log = patch(host, kind, model, direction, bundle)
        compiled = compile_node(host, steered, name)
    compiled, counts = counted_calls(compiled, counter)
    out = sample(host, tm, compiled, "flux", steps=STEPS)
    assert len(counts) == STEPS and counts[0] >= 1, counts  # one model call per step (CFG batched)
    first = counts[0]
    assert counts[-1] == first, f"compilations after each step: {counts}"
    torch.testing.assert_close(out, reference, atol=ATOL, rtol=0)
    assert ledger_view(host, compiled) == ledger_view(host, eager)
    if kind == "monitor":
        got, want = scores(log), scores(eager_log)
        assert set(got) == set(want) and len({k[0] for k in want}) == STEPS
        for key, value in want.items():
            assert got[key] == pytest.approx(value, abs=ATOL), key
        assert torch.equal(reference, sample(host, tm, model, "flux", steps=STEPS))  # it only watches
    else:
        unsteered = sample(host, tm, model, "flux", steps=STEPS)
        assert float((reference - unsteered).abs().max()) > 10 * ATOL
    print(f"{kind} {order}: compilations after each step {counts}, "
          f"max |compiled - eager| {float((out - reference).abs().max()):.2e}")



def silenced(bundle: SafetySAE, quiet: set[str]) -> SafetySAE:
    """``bundle`` with the fast-path thresholds of the sites in ``quiet`` far above any pre-activation: their
    harmful latents never fire."""
    def quieted(e: SiteSAE) -> SiteSAE:
        f = e.features
        return replace(e, features=replace(f, fast_threshold=torch.full_like(f.fast_threshold, 1e9)))

    return SafetySAE([quieted(e) if e.site in quiet else e for e in bundle], bundle.model)


def gated_patch(host, direction, bundle, case: str):
    """``model -> patched model`` for ``case``: gated DiT Safety Steer whose gate never opens (``dit_shut``,
    threshold below every score) or always does (``dit_open``); SAE Blend/Repel whose harmful latents fire at no
    site (``sae_silent``) or only at single:1 (``sae_half``)."""
    nodes = host.node_class_mappings
    if case.startswith("dit"):
        gate = SafetyDirection.from_vectors(direction.scaled_vectors, direction.categories,
                                            thresholds=torch.tensor([-1e6 if case == "dit_shut" else 1e6]))
        return lambda m: nodes["SafeSteerDiTSteer"].execute(m, gate, 2.0, "gated", "all", "img", 0.0, 1.0, True,
                                                            "auto").result[0]
    quiet = {str(s) for s in SAE_SITES} if case == "sae_silent" else {str(SAE_SITES[0])}
    sae = silenced(bundle, quiet)
    return lambda m: nodes["SafeSteerSAEBlendRepel"].execute(m, sae, 0.7, 1.0, "all", 0.0, 1.0, True, "fast").result[0]


@pytest.mark.parametrize("case, order", [("dit_shut", "compile_first"), ("sae_silent", "steer_first"),
                                         ("dit_open", "steer_first"), ("sae_half", "compile_first")])
def test_compiled_run_reports_edits_and_no_gate_opened_like_eager(host, tm, flux, pytorch_attention, case: str,
                                                                   order: str) -> None:
    """Under TorchCompileModel the edits are counted from the graph's own 0-d flags, read after the run: a run
    whose gates never open reports "no gate opened" with the eager run's exact text and counts, a run whose
    gates open reports the eager run's edited count (all site calls for an open gate, half of them for an SAE
    that fires at one of its two sites), and the compilation count stays at the first call's."""
    model, direction, bundle = flux
    make = gated_patch(host, direction, bundle, case)
    eager = make(model)
    reference = sample(host, tm, eager, "flux", steps=STEPS)
    name, counter = counting_backend("aot_eager")
    compiled = make(compile_node(host, model, name)) if order == "compile_first" else compile_node(host, make(model), name)
    compiled, counts = counted_calls(compiled, counter)
    out = sample(host, tm, compiled, "flux", steps=STEPS)
    assert len(counts) == STEPS and counts[0] >= 1 and counts == [counts[0]] * STEPS, counts
    torch.testing.assert_close(out, reference, atol=ATOL, rtol=0)
    ((planned, reached, edited, report),) = ledger_view(host, compiled)
    assert ledger_view(host, compiled) == ledger_view(host, eager)
    info = pack_module(host, "dit_adapter").inspect_model(model)
    assert planned == STEPS and reached == STEPS * (len(SAE_SITES) if case.startswith("sae") else info.num_double + info.num_single)
    if case in ("dit_shut", "sae_silent"):
        assert edited == 0 and "no gate opened / no harmful feature fired" in report
        assert torch.equal(reference, sample(host, tm, model, "flux", steps=STEPS))
    else:
        assert edited == (reached if case == "dit_open" else reached // 2)
        assert report == f"{'DiT Safety Steer' if case == 'dit_open' else 'SAE Blend/Repel'}: {edited} of {reached} site calls edited tokens."
    print(f"{case} {order}: compilations after each step {counts}; report: {report}")
