"""Activation shards: ShardWriter -> files + manifest -> ShardDataset / InMemoryActivations batches."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from steering_core.sae.activation_shards import InMemoryActivations, ShardDataset, ShardWriter
from steering_core.errors import DimensionMismatchError, NonFiniteError, SafeSteerError, SafeSteerFileError
from steering_core.files.format import read_safesteer_file

pytestmark = pytest.mark.host_independent


def _data(n: int = 1000, d: int = 5, seed: int = 0) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g)
    labels = {"id": torch.arange(n), "w": torch.rand(n, generator=g)}
    return x, labels


def _write(folder, x, labels, rows_per_shard=300, chunks=(7, 293, 1, 450)) -> None:
    with ShardWriter(folder, "blocks.1", x.shape[1], rows_per_shard=rows_per_shard) as w:
        start = 0
        for size in list(chunks) + [x.shape[0]]:
            end = min(start + size, x.shape[0])
            w.add(x[start:end], {k: v[start:end] for k, v in labels.items()})
            start = end
            if start == x.shape[0]:
                break


def test_round_trip_files_manifest_and_storage_order(tmp_path) -> None:
    x, labels = _data()
    _write(tmp_path, x, labels)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    # 1000 rows in shards of 300: 300, 300, 300, 100
    assert [s["rows"] for s in manifest["shards"]] == [300, 300, 300, 100]
    assert manifest["site"] == "blocks.1" and manifest["d"] == 5 and manifest["rows"] == 1000 and manifest["complete"]
    assert manifest["labels"] == {"id": "int64", "w": "float32"}
    tensors, meta = read_safesteer_file(tmp_path / manifest["shards"][1]["file"], expected_kind="ActivationShard")
    assert meta["safesteer.site"] == "blocks.1" and meta["safesteer.d"] == "5" and meta["safesteer.rows"] == "300"
    assert torch.equal(tensors["acts"], x[300:600]) and torch.equal(tensors["label.id"], torch.arange(300, 600))

    ds = ShardDataset(tmp_path)
    assert len(ds) == 1000 and ds.d == 5 and ds.site == "blocks.1" and ds.label_names == ("id", "w")
    parts = list(ds.iter_all())
    assert [p[0].shape[0] for p in parts] == [300, 300, 300, 100]
    assert torch.equal(torch.cat([p[0] for p in parts]), x)
    assert torch.equal(torch.cat([p[1]["w"] for p in parts]), labels["w"])
    chunks = list(ds.iter_all(columns=["id"], batch_size=128))
    assert torch.equal(torch.cat([c[1]["id"] for c in chunks]), torch.arange(1000))
    assert all(set(c[1]) == {"id"} for c in chunks) and max(c[0].shape[0] for c in chunks) == 128


def _expected_epoch_ids(shard_rows: list[int], seed: int, epoch: int) -> np.ndarray:
    """The documented order, computed here from the formula: shard permutation, then rows inside."""
    starts = np.concatenate([[0], np.cumsum(shard_rows)])
    out = []
    for s in np.random.default_rng([seed, epoch]).permutation(len(shard_rows)):
        out.append(starts[s] + np.random.default_rng([seed, epoch, int(s)]).permutation(shard_rows[s]))
    return np.concatenate(out)


def test_batches_follow_the_documented_seeded_order(tmp_path) -> None:
    x, labels = _data()
    _write(tmp_path, x, labels)
    ds = ShardDataset(tmp_path)
    ids = _expected_epoch_ids([300, 300, 300, 100], seed=3, epoch=2)
    batches = list(ds.iter_batches(128, seed=3, epoch=2))
    # 1000 rows -> 7 full batches and a last one of 104 (kept without drop_last)
    assert [b[0].shape[0] for b in batches] == [128] * 7 + [104]
    got = torch.cat([b[1]["id"] for b in batches]).numpy()
    assert np.array_equal(got, ids)
    assert torch.equal(torch.cat([b[0] for b in batches]), x[torch.from_numpy(ids)])
    assert torch.equal(torch.cat([b[1]["w"] for b in batches]), labels["w"][torch.from_numpy(ids)])
    # drop_last: 7 batches, the same rows minus the tail
    dropped = list(ds.iter_batches(128, seed=3, epoch=2, drop_last=True))
    assert len(dropped) == 7 == ds.batches_per_epoch(128, drop_last=True)
    assert np.array_equal(torch.cat([b[1]["id"] for b in dropped]).numpy(), ids[:896])
    # another epoch or seed is another order
    assert not np.array_equal(_expected_epoch_ids([300, 300, 300, 100], 3, 3), ids)
    other = torch.cat([b[1]["id"] for b in ds.iter_batches(128, seed=3, epoch=3)]).numpy()
    assert sorted(other.tolist()) == list(range(1000)) and not np.array_equal(other, ids)


@pytest.mark.parametrize("start", [0, 1, 2, 3, 5, 7])
def test_start_batch_resumes_exactly(tmp_path, start: int) -> None:
    x, labels = _data()
    _write(tmp_path, x, labels)
    ds = ShardDataset(tmp_path)
    full = list(ds.iter_batches(128, seed=1, epoch=0, drop_last=True))
    tail = list(ds.iter_batches(128, seed=1, epoch=0, start_batch=start, drop_last=True))
    assert len(tail) == len(full) - start
    for (a, la), (b, lb) in zip(full[start:], tail):
        assert torch.equal(a, b) and torch.equal(la["id"], lb["id"])


def test_in_memory_source_matches_shards_with_same_layout(tmp_path) -> None:
    x, labels = _data()
    _write(tmp_path, x, labels)
    disk = ShardDataset(tmp_path)
    mem = InMemoryActivations(x, labels, shard_rows=300)
    assert mem.shard_rows == [300, 300, 300, 100] and len(mem) == 1000
    for (a, la), (b, lb) in zip(disk.iter_batches(64, seed=5, epoch=1), mem.iter_batches(64, seed=5, epoch=1)):
        assert torch.equal(a, b) and torch.equal(la["id"], lb["id"])
    assert torch.equal(disk.sample(50, seed=2), mem.sample(50, seed=2))


def test_sample_is_distinct_rows_of_the_data(tmp_path) -> None:
    x, labels = _data()
    _write(tmp_path, x, labels)
    ds = ShardDataset(tmp_path)
    s = ds.sample(200, seed=4)
    assert s.shape == (200, 5) and s.dtype == torch.float32
    # every sampled row is a row of x, no row twice
    match = (s[:, None, :] == x[None, :, :]).all(-1)
    assert bool((match.sum(1) == 1).all()) and len(set(match.float().argmax(1).tolist())) == 200
    assert torch.equal(ds.sample(200, seed=4), s) and not torch.equal(ds.sample(200, seed=5), s)
    assert ds.sample(5000, seed=0).shape == (1000, 5)


def test_low_precision_storage_reads_back_as_float32(tmp_path) -> None:
    x, _ = _data(100, 4)
    for dtype in (torch.bfloat16, torch.float16):
        folder = tmp_path / str(dtype)
        with ShardWriter(folder, "s", 4, rows_per_shard=64, dtype=dtype) as w:
            w.add(x)
        back = torch.cat([a for a, _ in ShardDataset(folder).iter_all()])
        assert back.dtype == torch.float32 and torch.equal(back, x.to(dtype).to(torch.float32))
    with pytest.raises(NonFiniteError):
        ShardWriter(tmp_path / "f16", "s", 4, dtype=torch.float16).add(torch.full((2, 4), 1e6))


def test_folder_of_another_site_or_size_is_refused(tmp_path) -> None:
    x, _ = _data(50, 5)
    with ShardWriter(tmp_path, "blocks.1", 5, rows_per_shard=20) as w:
        w.add(x)
    for site, d in (("blocks.2", 5), ("blocks.1", 6)):
        with pytest.raises(SafeSteerError, match=str(tmp_path)):
            ShardWriter(tmp_path, site, d)
    with pytest.raises(SafeSteerError, match="append=True"):
        ShardWriter(tmp_path, "blocks.1", 5, append=False)
    # a stray shard of another site without a manifest entry is also refused
    other = tmp_path / "other"
    with ShardWriter(other, "blocks.9", 5, rows_per_shard=20) as w:
        w.add(x)
    (other / "manifest.json").unlink()
    with pytest.raises(SafeSteerError, match="blocks.9"):
        ShardWriter(other, "blocks.1", 5)
    # appending to the same site continues the folder
    with ShardWriter(tmp_path, "blocks.1", 5, rows_per_shard=20) as w:
        w.add(x[:7])
    ds = ShardDataset(tmp_path)
    assert ds.shard_rows == [20, 20, 10, 7]
    assert torch.equal(torch.cat([a for a, _ in ds.iter_all()]), torch.cat([x, x[:7]]))


def test_manifest_is_written_per_shard_before_close(tmp_path) -> None:
    x, _ = _data(70, 3)
    w = ShardWriter(tmp_path, "s", 3, rows_per_shard=30)
    w.add(x)
    ds = ShardDataset(tmp_path)  # a crash now would leave the two full shards readable
    assert ds.shard_rows == [30, 30] and not ds.complete and w.rows_written == 70
    w.close()
    assert ShardDataset(tmp_path).shard_rows == [30, 30, 10] and ShardDataset(tmp_path).complete


def test_input_errors(tmp_path) -> None:
    w = ShardWriter(tmp_path, "s", 3, rows_per_shard=8)
    with pytest.raises(DimensionMismatchError, match="size 4"):
        w.add(torch.zeros(2, 4))
    with pytest.raises(SafeSteerError, match="shape"):
        w.add(torch.zeros(2, 3, 1))
    with pytest.raises(SafeSteerError, match="one label value per row"):
        w.add(torch.zeros(2, 3), {"y": torch.zeros(3)})
    w.add(torch.zeros(2, 3), {"y": torch.tensor([0, 1])})
    with pytest.raises(SafeSteerError, match="same label"):
        w.add(torch.zeros(2, 3), {"y": torch.tensor([0.5, 1.0])})
    with pytest.raises(NonFiniteError):
        w.add(torch.tensor([[float("nan"), 0.0, 0.0]]), {"y": torch.tensor([0])})
    w.close()
    with pytest.raises(SafeSteerError, match="closed"):
        w.add(torch.zeros(1, 3), {"y": torch.tensor([0])})
    ds = ShardDataset(tmp_path)
    with pytest.raises(SafeSteerError, match="unknown label"):
        next(ds.iter_batches(1, columns=["nope"]))
    with pytest.raises(SafeSteerError, match="start_batch"):
        next(ds.iter_batches(1, start_batch=5))
    with pytest.raises(SafeSteerFileError, match="manifest.json"):
        ShardDataset(tmp_path / "empty")
