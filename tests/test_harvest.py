"""Harvesting activations with forward hooks from a tiny model with known weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from steering_core.sae.activation_shards import ShardDataset, ShardWriter
from steering_core.errors import SafeSteerError
from steering_core.sae.harvest import harvest, pooled_site_activations

pytestmark = pytest.mark.host_independent

W1 = np.array([[1.0, -2.0, 0.5], [0.0, 1.0, 1.0], [-1.0, 0.5, 2.0], [3.0, 0.0, -1.0]])
B1 = np.array([0.1, -0.2, 0.3, 0.0])
W2 = np.array([[1.0, 0.0, -1.0, 2.0], [0.5, 0.5, 0.5, -0.5]])
B2 = np.array([-1.0, 1.0])


def _model() -> nn.Sequential:
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor(W1))
        model[0].bias.copy_(torch.tensor(B1))
        model[2].weight.copy_(torch.tensor(W2))
        model[2].bias.copy_(torch.tensor(B2))
    return model


def _by_hand(x: np.ndarray) -> dict[str, np.ndarray]:
    h0 = x @ W1.T + B1
    h1 = np.maximum(h0, 0.0)
    return {"lin": h0, "act": h1, "out": h1 @ W2.T + B2}


def _items(n: int = 6, seed: int = 0) -> list[tuple[torch.Tensor, int, float]]:
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(2 + i % 3, 3, generator=g), i % 2, 0.25 * i) for i in range(n)]


def _no_hooks(model: nn.Module) -> bool:
    return all(not m._forward_hooks for m in model.modules())


SITES = {"lin": "0", "act": "1", "out": "2"}
DIMS = {"lin": 4, "act": 4, "out": 2}


def test_harvested_rows_are_the_intermediate_outputs(tmp_path) -> None:
    model = _model()
    items = _items()
    writers = {k: ShardWriter(tmp_path / k, k, DIMS[k], rows_per_shard=4) for k in SITES}
    outputs = []
    written = harvest(model, SITES, items, lambda it: outputs.append(model(it[0])), writers,
                      labels_for=lambda it: {"unsafe": it[1], "weight": it[2]})
    for w in writers.values():
        w.close()
    assert _no_hooks(model)
    x = torch.cat([it[0] for it in items]).double().numpy()
    expected = _by_hand(x)
    n_rows = x.shape[0]  # 2+3+4+2+3+4 = 18 tokens: several 4-row shards per site
    assert n_rows == 18 and written == {"lin": 18, "act": 18, "out": 18}
    for key in SITES:
        ds = ShardDataset(tmp_path / key)
        assert ds.shard_rows == [4, 4, 4, 4, 2] and ds.label_names == ("unsafe", "weight")
        chunks = list(ds.iter_all())
        rows = torch.cat([c[0] for c in chunks]).double().numpy()
        np.testing.assert_allclose(rows, expected[key], rtol=0, atol=1e-5)
        unsafe = torch.cat([c[1]["unsafe"] for c in chunks])
        weight = torch.cat([c[1]["weight"] for c in chunks])
        assert unsafe.dtype == torch.int64 and weight.dtype == torch.float32
        assert unsafe.tolist() == [it[1] for it in items for _ in range(it[0].shape[0])]
        assert weight.tolist() == [it[2] for it in items for _ in range(it[0].shape[0])]
    # the hooks did not change what the model returns
    with torch.no_grad():
        assert all(torch.equal(out, model(it[0])) for out, it in zip(outputs, items))


class _TupleBlock(nn.Module):
    """Returns (hidden [B, T, D], something else), like many transformer blocks."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(3, 4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.proj(x)
        return h * 2.0, h.sum()


def test_tuple_outputs_module_sites_and_custom_select(tmp_path) -> None:
    block = _TupleBlock()
    items = [torch.randn(2, 5, 3, generator=torch.Generator().manual_seed(i)) for i in range(3)]
    with ShardWriter(tmp_path / "a", "blk", 4, rows_per_shard=16) as w:
        harvest(block, {"blk": block}, items, block, {"blk": w})
    rows = torch.cat([a for a, _ in ShardDataset(tmp_path / "a").iter_all()])
    with torch.no_grad():
        ref = torch.cat([(block.proj(x) * 2.0).reshape(-1, 4) for x in items])  # [B*T, D] per item
    assert torch.allclose(rows, ref, atol=1e-6) and rows.shape == (30, 4)
    # a custom select: the last token of every sequence
    with ShardWriter(tmp_path / "b", "blk", 4) as w:
        harvest(block, {"blk": "proj"}, items, block, {"blk": w}, select=lambda site, out: out[:, -1, :])
    rows = torch.cat([a for a, _ in ShardDataset(tmp_path / "b").iter_all()])
    with torch.no_grad():
        assert torch.allclose(rows, torch.cat([block.proj(x)[:, -1] for x in items]), atol=1e-6)


def test_hooks_are_removed_when_run_fails_and_input_errors(tmp_path) -> None:
    model = _model()
    writers = {"lin": ShardWriter(tmp_path / "w", "lin", 4)}

    def boom(_item: object) -> None:
        model(torch.zeros(1, 3))
        raise RuntimeError("model failed")

    with pytest.raises(RuntimeError, match="model failed"):
        harvest(model, {"lin": "0"}, [1], boom, writers)
    assert _no_hooks(model)
    with pytest.raises(SafeSteerError, match=r"no submodule 'blocks\.7'.*0, 1, 2"):
        harvest(model, {"lin": "blocks.7"}, [1], lambda it: None, writers)
    with pytest.raises(SafeSteerError, match="no ShardWriter"):
        harvest(model, {"lin": "0", "act": "1"}, [1], lambda it: None, writers)
    with pytest.raises(SafeSteerError, match="must be a number"):
        harvest(model, {"lin": "0"}, [torch.zeros(1, 3)], model, writers, labels_for=lambda it: {"c": "violence"})
    with pytest.raises(SafeSteerError, match=r"\[N, D\]"):
        harvest(model, {"lin": "0"}, [torch.zeros(1, 3)], model, writers, select=lambda s, o: o[0])
    assert _no_hooks(model)


def test_pooled_site_activations_are_per_item_token_means() -> None:
    model = _model()
    items = _items(5, seed=3)

    def run_twice(it: tuple[torch.Tensor, int, float]) -> None:  # e.g. two sampler steps per prompt
        model(it[0])
        model(it[0] * -1.0)

    pooled = pooled_site_activations(model, SITES, items, run_twice)
    assert _no_hooks(model)
    for key in SITES:
        ref = np.stack([np.concatenate([_by_hand(it[0].double().numpy())[key],
                                        _by_hand(-it[0].double().numpy())[key]]).mean(0) for it in items])
        assert pooled[key].shape == (5, DIMS[key]) and pooled[key].dtype == torch.float32
        np.testing.assert_allclose(pooled[key].double().numpy(), ref, rtol=0, atol=1e-5)
    skips = lambda it: model[0](it[0])  # the later layers never run
    with pytest.raises(SafeSteerError, match=r"site\(s\) 'act', 'out' produced no activations for item 0"):
        pooled_site_activations(model, SITES, items, skips)
    assert _no_hooks(model)
