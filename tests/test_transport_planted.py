"""Planted transfer: two different random non-linear "models" share a latent with a safety factor.

Only benign anchors are used to fit the map; unsafe prompts pass only through the source model.
The transported direction must agree with the target's native direction (cosine >= 0.9) and
separate target activations almost as well (AUROC >= 0.95 of native).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import steering_core as sc

pytestmark = pytest.mark.host_independent

LATENT = 12


class _RandomModel:
    """h = act(z A + b) B + noise: a fixed random non-linear readout of the latent."""

    def __init__(self, seed: int, width: int, out_dim: int, act: str):
        rng = np.random.default_rng(seed)
        self.a = rng.normal(size=(LATENT, width)) / np.sqrt(LATENT) * 0.8
        self.b = rng.normal(size=width) * 0.1
        self.out = rng.normal(size=(width, out_dim)) / np.sqrt(width)
        self.act = act
        self.noise = np.random.default_rng(seed + 1)

    def __call__(self, z: np.ndarray) -> np.ndarray:
        pre = z @ self.a + self.b
        hidden = np.tanh(pre) if self.act == "tanh" else pre / (1 + np.exp(-1.702 * pre))
        return hidden @ self.out + 0.01 * self.noise.normal(size=(z.shape[0], self.out.shape[1]))


def _latents(rng: np.random.Generator, n: int, safety: float | None) -> np.ndarray:
    z = rng.normal(size=(n, LATENT))
    if safety is not None:
        z[:, 0] = safety + 0.3 * rng.normal(size=n)
    return z


@pytest.fixture(scope="module")
def world() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    source, target = _RandomModel(10, 96, 64, "tanh"), _RandomModel(20, 80, 48, "gelu")
    anchors = _latents(rng, 800, None)
    ctx_train, ctx_test = rng.normal(size=(200, LATENT)), rng.normal(size=(200, LATENT))

    def pair(ctx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        safe, unsafe = ctx.copy(), ctx.copy()
        safe[:, 0] = 1.0 + 0.3 * rng.normal(size=len(ctx))
        unsafe[:, 0] = -1.0 + 0.3 * rng.normal(size=len(ctx))
        return safe, unsafe

    s_tr, u_tr = pair(ctx_train)
    s_te, u_te = pair(ctx_test)
    return {
        "src_anchor": source(anchors), "tgt_anchor": target(anchors),
        "src_safe": source(s_tr), "src_unsafe": source(u_tr),
        "tgt_safe": target(s_tr), "tgt_unsafe": target(u_tr),
        "tgt_safe_test": target(s_te), "tgt_unsafe_test": target(u_te),
        "tgt_benign_fresh": target(_latents(rng, 4000, None)),
    }


@pytest.mark.parametrize("kind", ["ridge", "mlp"])
def test_transported_direction_matches_native(world: dict[str, np.ndarray], kind: str) -> None:
    source_dir = sc.estimate_direction(world["src_safe"], world["src_unsafe"], pooling="pooled")
    native = sc.estimate_direction(world["tgt_safe"], world["tgt_unsafe"], pooling="pooled")
    mlp = sc.MLPTrainConfig(epochs=300, patience=40, lr=2e-3)
    alignment = sc.fit_alignment(world["src_anchor"], world["tgt_anchor"], kind, mlp=mlp)
    moved = alignment.transport(source_dir, native=native)
    report = sc.transport_report(moved)
    cos = sc.cosine(moved.vectors[0], native.vectors[0])
    assert report.rows[0].cosine_to_native == pytest.approx(cos)
    assert cos >= 0.9, report.to_markdown()
    transferred_auc = sc.direction_auroc(moved, world["tgt_safe_test"], world["tgt_unsafe_test"])
    native_auc = sc.direction_auroc(native, world["tgt_safe_test"], world["tgt_unsafe_test"])
    print(f"\n[{kind}] cosine {cos:.3f}, AUROC transferred {transferred_auc:.4f} vs native {native_auc:.4f}, "
          f"held-out R^2 {alignment.held_out_r2:.3f}, coverage {report.rows[0].coverage:.3f}")
    assert transferred_auc >= 0.95 * native_auc
    assert report.rows[0].coverage > 0.9
    # magnitude calibration: |v_t| = beta |v_s|
    assert moved.scale[0].item() == pytest.approx(alignment.beta * source_dir.scale[0].item(), rel=1e-5)
    # gates calibrated on benign anchors only (the transported projection, 5 % rate): on fresh
    # benign prompts the gate opens about 5 % of the time (binomial sd ~0.35 % for 4000 prompts)
    assert moved.thresholds is not None and moved.gate_vectors is None
    assert moved.info["gate_calibration"]["method"] == "in_sample"
    fresh = torch.tensor(world["tgt_benign_fresh"], dtype=torch.float32)
    false_positive = float((moved.gate_scores(fresh)[:, 0] < moved.thresholds[0]).float().mean())
    unsafe = torch.tensor(world["tgt_unsafe_test"], dtype=torch.float32)
    opened = float((moved.gate_scores(unsafe)[:, 0] < moved.thresholds[0]).float().mean())
    # oracle: the source's own gate on the source activations, calibrated the same way
    source_gate = sc.calibrate_gates(source_dir, world["src_anchor"])
    oracle = float((source_gate.scores(torch.tensor(world["src_unsafe"], dtype=torch.float32))[:, 0]
                    < source_gate.thresholds[0]).float().mean())
    print(f"[{kind}] gate: {100 * false_positive:.1f}% of fresh benign prompts, {100 * opened:.1f}% of unsafe ones "
          f"(source gate on source states: {100 * oracle:.1f}%)")
    assert false_positive <= 0.08
    assert opened >= 0.6 * oracle


def _threshold_reference(scores: np.ndarray, rate: float) -> float:
    """The documented rule: midpoint between the floor(rate * n)-th smallest score and the next lower distinct one."""
    ordered = np.sort(scores)
    pivot = ordered[int(rate * len(ordered))]
    return float((ordered[ordered < pivot].max() + pivot) / 2)


def test_transported_gates_score_the_transported_projection(world: dict[str, np.ndarray]) -> None:
    """Gate score = h @ v of the transported unit vector; thresholds and centres from the benign target anchors."""
    source_dir = sc.estimate_direction(world["src_safe"], world["src_unsafe"], pooling="pooled")
    alignment = sc.fit_alignment(world["src_anchor"], world["tgt_anchor"], "procrustes")
    moved = alignment.transport(source_dir, false_positive_rate=0.1)
    w = alignment.params["map.weight"].double().numpy()
    v = source_dir.vectors[0].double().numpy() @ w
    v /= np.linalg.norm(v)  # Procrustes pushes v_s @ W, then the unit vector
    states = np.concatenate([world["tgt_safe_test"], world["tgt_unsafe_test"]])
    np.testing.assert_allclose(moved.gate_scores(torch.tensor(states)).numpy()[:, 0], states @ v, rtol=1e-5, atol=1e-6)
    anchors = alignment.target_anchor_sample.double().numpy() @ v
    assert moved.thresholds[0].item() == pytest.approx(_threshold_reference(anchors, 0.1), rel=1e-5, abs=1e-6)
    assert moved.centres[0].item() == pytest.approx(anchors.mean(), rel=1e-5, abs=1e-6)
    assert np.mean(anchors < moved.thresholds[0].item()) <= 0.1


def test_direction_file_with_read_outs_still_loads_and_gates_with_them(world: dict[str, np.ndarray], tmp_path) -> None:
    """Files written when transport attached read-outs keep gating with them; transporting one gates on the projection."""
    rng = np.random.default_rng(3)
    source_dir = sc.estimate_direction(world["src_safe"], world["src_unsafe"], pooling="pooled")
    g, b = rng.normal(size=(1, source_dir.dim)), np.array([0.25])
    old = sc.SafetyDirection(vectors=source_dir.vectors, categories=source_dir.categories, scale=source_dir.scale,
                             thresholds=torch.tensor([0.1]), pooling="pooled",
                             gate_vectors=torch.tensor(g, dtype=torch.float32), gate_offsets=torch.tensor(b, dtype=torch.float32))
    loaded = sc.SafetyDirection.load(old.save(tmp_path / "old.safetensors"))
    h = world["src_unsafe"][:50]
    expected = h @ g[0].astype(np.float32).astype(np.float64) + np.float32(b[0])
    np.testing.assert_allclose(loaded.gate_scores(torch.tensor(h)).numpy()[:, 0], expected, rtol=1e-5, atol=1e-5)
    states = torch.tensor(h)[None]  # [1, N, D]: each row a one-token prompt
    opened = (sc.steer(states, loaded, 1.0, "gated") != states).any(-1)[0].numpy()
    np.testing.assert_array_equal(opened, expected < 0.1)
    moved = sc.fit_alignment(world["src_anchor"], world["tgt_anchor"], "ridge").transport(loaded)
    assert moved.gate_vectors is None and moved.info["gate_calibration"]["method"] == "in_sample"


def test_universal_svd_over_transported_sources_recovers_native_axis(world: dict[str, np.ndarray]) -> None:
    """Three more sources, each transported into the target space, then the universal direction."""
    native = sc.estimate_direction(world["tgt_safe"], world["tgt_unsafe"], pooling="pooled")
    rng = np.random.default_rng(5)
    moved = []
    for seed, act in ((31, "tanh"), (41, "gelu"), (51, "tanh"), (61, "gelu")):
        src = _RandomModel(seed, 72, 40, act)
        anchors = rng.normal(size=(600, LATENT))
        ctx = rng.normal(size=(150, LATENT))
        safe, unsafe = ctx.copy(), ctx.copy()
        safe[:, 0], unsafe[:, 0] = 1.0, -1.0
        direction = sc.estimate_direction(src(safe), src(unsafe), pooling="pooled")
        alignment = sc.fit_alignment(src(anchors), _RandomModel(20, 80, 48, "gelu")(anchors), "ridge")
        moved.append(alignment.transport(direction))
    universal = sc.universal_direction(moved)
    cos = sc.cosine(universal.vectors[0], native.vectors[0])
    assert cos >= 0.9
    assert cos >= min(sc.cosine(m.vectors[0], native.vectors[0]) for m in moved)
