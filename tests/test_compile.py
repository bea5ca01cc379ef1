"""The per-step steering edits under torch.compile(fullgraph=True): no graph break, equal to eager, and one
compilation for a whole sampling run (new per-call plans and new activations do not recompile).

Compilations are counted with Dynamo's own ``CompileCounterWithBackend``. The backend is ``aot_eager``:
Dynamo's full trace plus AOTAutograd, which is where graph breaks, host synchronisation and recompiles
show, without waiting for a C++ toolchain per graph; one test runs ``inductor`` itself (it needs the C
compiler the CI image has, gcc) to check the fused code the compiler generates.
"""

from __future__ import annotations

import pytest
import torch
from torch._dynamo.testing import CompileCounterWithBackend

import steering_core as sc
from planted_sae import planted_atoms, planted_sae, tokens
from steering_core.steering.dit import DiTSteerConfig, DiTSteerer
from steering_core.sae.autoencoder import SafetyFeatures
from steering_core.sae.steering import SAESteerConfig, SAESteerer

pytestmark = [pytest.mark.usefixtures("one_torch_thread"), pytest.mark.host_independent]

STEPS = 4


def _direction(k: int = 3, d: int = 32, seed: int = 0) -> sc.SafetyDirection:
    g = torch.Generator().manual_seed(seed)
    raw = torch.randn(k, d, generator=g, dtype=torch.float64)
    return sc.SafetyDirection.from_vectors(raw, [f"c{i}" for i in range(k)], thresholds=torch.zeros(k),
                                           centres=torch.full((k,), 0.1))


@pytest.fixture(autouse=True)
def _fresh_dynamo():
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


@pytest.mark.parametrize("mode", ["add", "gated", "project_out", "ablate"])
def test_steering_op_compiles_once_for_every_step(mode: str) -> None:
    """Also the op's 0-d "a token changed" flag: equal to comparing the output with its input, compiled and eager,
    including a last step whose tokens all lie on the safe side (gated and project_out then change nothing)."""
    direction = _direction()
    op = sc.SteeringOp(direction, sc.SteeringConfig(mode=mode, strength=[1.0, 0.5, 2.0]))
    counter = CompileCounterWithBackend("aot_eager")
    compiled = torch.compile(op.apply_flagged, backend=counter, fullgraph=True)
    g = torch.Generator().manual_seed(1)
    for step in range(STEPS):
        h = torch.randn(2, 40, 32, generator=g)
        if step == STEPS - 1:
            h = 0.01 * h + 50.0 * direction.vectors.float().sum(0)  # far on the safe side of every category
        h[0, 0, 0] = -0.0
        (out, flag), (ref, eager_flag) = compiled(h), op.apply_flagged(h)
        torch.testing.assert_close(out, ref, atol=1e-6, rtol=1e-6)
        untouched = (ref == h).all(-1)
        assert torch.equal(out[untouched], h[untouched]) and torch.equal(out[untouched].signbit(), h[untouched].signbit())
        changed = not torch.equal(ref, h)
        assert changed == (step < STEPS - 1 or mode in ("add", "ablate"))
        assert bool(flag) == changed and eager_flag == changed
        assert isinstance(flag, torch.Tensor) or mode == "add"  # add (no mask) always changes: a plain True
    assert counter.frame_count == 1, f"{counter.frame_count} compilations over {STEPS} steps"


def _plans(mode: str, steps: int) -> list:
    """Per-step plans as the APPLY_MODEL wrapper makes them: a new CallPlan per call (cond + uncond rows,
    cond_only), from a conditioning-space direction through a linear text projection."""
    base = _direction(k=2, d=24, seed=3)
    d = sc.SafetyDirection.from_vectors(base.vectors.double(), base.categories, thresholds=torch.full((2,), 1e6))  # gates open
    steerer = DiTSteerer(d, DiTSteerConfig(mode=mode, strength=[1.5, 0.5], space="conditioning"), hidden_size=32,
                         context_dim=24)
    proj = torch.nn.Linear(24, 32)
    g = torch.Generator().manual_seed(4)
    with torch.no_grad():
        return [steerer.prepare(batch=2, context=torch.randn(2, 6, 24, generator=g) - 2.0, cond_or_uncond=[0, 1],
                                project=proj, project_is_linear=True) for _ in range(steps)]


@pytest.mark.parametrize("mode", ["add", "gated", "project_out"])
@pytest.mark.parametrize("span", [(0, None), (3, 17)])
def test_dit_site_edit_compiles_once_for_every_step(mode: str, span: tuple[int, int | None]) -> None:
    counter = CompileCounterWithBackend("aot_eager")
    compiled = torch.compile(lambda plan, h: plan.apply(h, *span), backend=counter, fullgraph=True)
    g = torch.Generator().manual_seed(5)
    for plan in _plans(mode, STEPS):
        h = torch.randn(2, 20, 32, generator=g)
        out, ref = compiled(plan, h), plan.apply(h, *span)
        torch.testing.assert_close(out, ref, atol=1e-6, rtol=1e-6)
        assert torch.equal(out[1], h[1])  # the uncond row (cond_only) bit-identical
        assert not torch.equal(out[0], h[0])
    assert counter.frame_count == 1, f"{counter.frame_count} compilations over {STEPS} steps"


def _steerers(mode: str) -> tuple[DiTSteerer, DiTSteerer]:
    """(gates open, gates shut) steerers of one conditioning-space direction: thresholds above / below every
    score (add and project_out ignore gates: their 'shut' plans are made for unconditional rows only)."""
    base = _direction(k=2, d=24, seed=3)
    config = DiTSteerConfig(mode=mode, strength=[1.5, 0.5], space="conditioning")
    return tuple(DiTSteerer(sc.SafetyDirection.from_vectors(base.vectors.double(), base.categories,
                                                             thresholds=torch.full((2,), t)), config, hidden_size=32,
                            context_dim=24) for t in (1e6, -1e6))  # type: ignore[return-value]


@pytest.mark.parametrize("mode", ["add", "gated", "project_out"])
def test_dit_site_edit_flags_what_it_touched_under_compile(mode: str) -> None:
    """``CallPlan.apply_flagged`` under fullgraph=True returns, with the edit, a 0-d tensor "a token changed" that
    agrees with comparing the output to its input (the independent reference) and with eager's flag, for calls
    that edit and calls that change nothing (no gate open, no steered row, nothing on the unsafe side),
    alternated step by step with one compilation."""
    opened, shut = _steerers(mode)
    proj = torch.nn.Linear(24, 32)
    counter = CompileCounterWithBackend("aot_eager")
    compiled = torch.compile(lambda plan, h: plan.apply_flagged(h, 2, 15), backend=counter, fullgraph=True)
    g = torch.Generator().manual_seed(6)
    seen = []
    for step in range(STEPS):
        edits = step % 2 == 0
        safe_side = mode == "project_out" and step == 3  # steered rows, but every token already on the safe side
        if mode == "gated":
            steerer, layout = (opened if edits else shut), [0, 1]
        else:
            steerer, layout = opened, ([0, 1] if edits or safe_side else [1, 1])
        with torch.no_grad():
            plan = steerer.prepare(batch=2, context=torch.randn(2, 6, 24, generator=g) - 2.0, cond_or_uncond=layout,
                                   project=proj, project_is_linear=True)
        h = torch.randn(2, 20, 32, generator=g)
        if safe_side:
            h = h * 0.01 + 50.0 * plan.basis.sum(0)
        (out, flag), (ref, eager_flag) = compiled(plan, h), plan.apply_flagged(h, 2, 15)
        torch.testing.assert_close(out, ref, atol=1e-6, rtol=1e-6)
        changed = not torch.equal(ref, h)
        assert changed == edits
        assert isinstance(flag, torch.Tensor) and flag.shape == () and bool(flag) == changed
        assert bool(eager_flag) == changed and (changed or ref is h)  # eager on the CPU: the input itself
        seen.append(changed)
    assert seen[:3] == [True, False, True]
    assert counter.frame_count == 1, f"{counter.frame_count} compilations over {STEPS} steps"


@pytest.mark.parametrize("beta, gamma", [(0.0, 1.0), (0.5, 1.0), (1.0, 0.0)])
def test_sae_site_edit_compiles_once_for_every_step(beta: float, gamma: float) -> None:
    """SAE Blend/Repel's fast path (what the node runs per site) under fullgraph=True: no graph break, equal to
    eager within 1e-5 (the compiled graph solves every row and every active-set round, eager only the gated
    rows until no set grows), ungated tokens bit-identical, and one compilation for four steps."""
    p = planted_atoms(d=64, m=128, n_harm=4, n_safe=4, seed=2)
    sae = planted_sae(p, k=4, enc_bias=-0.5)
    features = SafetyFeatures(harmful=p.harmful, harmful_effect=torch.ones(4), fast_threshold=torch.zeros(4),
                              safe=p.safe, safe_profile=torch.full((4,), 0.5), harm_scale=3.0)
    steerer = SAESteerer(sae, features, SAESteerConfig(beta=beta, gamma=gamma, path="fast"))
    counter = CompileCounterWithBackend("aot_eager")
    compiled = torch.compile(steerer.__call__, backend=counter, fullgraph=True)
    g = torch.Generator().manual_seed(11)
    for _ in range(STEPS):
        x = torch.cat([tokens(p, 12, "unsafe", g), tokens(p, 12, "benign", g)]).reshape(2, 12, 64)
        out, ref = compiled(x), steerer(x)
        torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
        gated = steerer.active_mask(x)
        assert gated.any() and (~gated).any()
        assert torch.equal(out[~gated], x[~gated])
        assert (out[gated] - x[gated]).norm(dim=-1).min() > 1e-3  # every gated token moved
    assert counter.frame_count == 1, f"{counter.frame_count} compilations over {STEPS} steps"


def test_gated_steering_under_inductor_equals_eager() -> None:
    """Inductor's generated kernel (CPU C++; gcc) gives eager's result, and compiles once for every step."""
    op = sc.SteeringOp(_direction(), sc.SteeringConfig(mode="gated", strength=[1.0, 0.5, 2.0]))
    counter = CompileCounterWithBackend("inductor")
    compiled = torch.compile(op.__call__, backend=counter, fullgraph=True)
    g = torch.Generator().manual_seed(7)
    for _ in range(2):
        h = torch.randn(2, 64, 32, generator=g)
        out, ref = compiled(h), op(h)
        torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
        untouched = (ref == h).all(-1)
        assert untouched.any() and torch.equal(out[untouched], h[untouched])
    assert counter.frame_count == 1


def test_sae_site_edit_flags_whether_a_harmful_feature_fired_under_compile() -> None:
    """``SAESteerer.apply_flagged`` compiled with fullgraph=True: its 0-d flag is True exactly when a harmful
    latent is active on some token (``active_mask``, the reference) and eager's flag says the same; steps
    whose tokens fire no harmful latent come back bit-identical with the flag False; one compilation."""
    p = planted_atoms(d=64, m=128, n_harm=4, n_safe=4, seed=2)
    sae = planted_sae(p, k=4, enc_bias=-0.5)
    features = SafetyFeatures(harmful=p.harmful, harmful_effect=torch.ones(4), fast_threshold=torch.zeros(4),
                              safe=p.safe, safe_profile=torch.full((4,), 0.5), harm_scale=3.0)
    steerer = SAESteerer(sae, features, SAESteerConfig(beta=0.5, gamma=1.0, path="fast"))
    counter = CompileCounterWithBackend("aot_eager")
    compiled = torch.compile(steerer.apply_flagged, backend=counter, fullgraph=True)
    g = torch.Generator().manual_seed(12)
    fired = []
    for step in range(STEPS):
        x = (tokens(p, 16, "unsafe", g, p_special=1.0) if step % 2 == 0 else
             tokens(p, 16, "benign", g, lo=0.3, hi=0.6)).reshape(2, 8, 64)  # weak benign tokens: no cross-talk fires
        (out, flag), (ref, eager_flag) = compiled(x), steerer.apply_flagged(x)
        reference = bool(steerer.active_mask(x).any())
        assert isinstance(flag, torch.Tensor) and bool(flag) == reference and eager_flag == reference
        torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
        if not reference:
            assert torch.equal(out, x) and ref is x
        fired.append(reference)
    assert fired == [True, False, True, False]
    assert counter.frame_count == 1, f"{counter.frame_count} compilations over {STEPS} steps"
