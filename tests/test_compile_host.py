"""ComfyUI's own TorchCompileModel node in front of and behind SafeSteer's model patches, on the tiny Flux.

For DiT Safety Steer, SAE Blend/Repel and Safety Monitor, each placed behind the compile node (compile
first, then the SafeSteer node) and in front of it (the SafeSteer node first): ComfyUI's KSampler code
samples the compiled model, and

* its latent equals the eager latent of the same patches (no compile node) within ``ATOL`` (the
  monitor's scores, step by step, too);
* the steering acted: the eager latent differs from the unsteered model's by more than ``10 * ATOL``;
* nothing recompiles from one sampling step to the next: the compilation count read after every model
  call of a ``STEPS``-step run (new sigma, new activations, a new per-call plan every step) stays at
  what the first call compiled.

Compilations are counted by Dynamo's ``CompileCounterWithBackend`` around ``aot_eager`` (Dynamo's full
trace and AOTAutograd: where graph breaks, guards and recompiles show, with no C++ toolchain per graph),
registered under a backend name, because the node hands its ``backend`` string to ``torch.compile``,
which resolves registered names. (The node's own combo offers ``inductor``: the same case behind DiT Safety
Steer passed with it too, but took 2.4 min of C++ compilation on 2 cores, so inductor is tested on the
per-site edit alone, in test_compile.py.)
"""

from __future__ import annotations

import itertools

import pytest
import torch
from torch._dynamo.testing import CompileCounterWithBackend

from steering_core.sae.safety_sae import SafetySAE, SiteSAE
from steering_core.sae.autoencoder import SafetyFeatures, SparseAutoencoder
from steering_core.steering.sites import Site

from test_dit_host import add_recorders, conditioning_direction, sample

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

