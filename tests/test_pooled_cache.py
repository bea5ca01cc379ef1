"""steering_core.encoders.pooled_cache: pooled encodings are written once, read back unchanged, and never reused
for another prompt list, pooling or layer; a damaged file is re-encoded, not trusted."""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import pytest
import torch

from steering_core.encoders import EncodedPrompts
from steering_core.encoders.pooled_cache import cache_path, cache_key, cached_pooled

pytestmark = pytest.mark.host_independent


def word_vector(word: str, dim: int = 8) -> np.ndarray:
    return np.random.default_rng(zlib.crc32(word.encode())).normal(size=dim).astype(np.float32)


class WordEncoder:
    """One token per word (a deterministic vector per word), right-padded to the batch's longest prompt."""

    name, fingerprint, hidden_size, kind, prefix, max_length = "words", "sha256:test", 8, "encoder", "", 128

    def __init__(self, layer: str = "l0"):
        self.layer, self.calls = layer, 0

    def encode(self, prompts):
        self.calls += 1
        width = max(len(p.split()) for p in prompts)
        hidden = torch.full((len(prompts), width, 8), 1e4)      # padding: huge, so any leak shows
        mask = torch.zeros(len(prompts), width, dtype=torch.bool)
        for i, p in enumerate(prompts):
            for j, w in enumerate(p.split()):
                hidden[i, j] = torch.from_numpy(word_vector(w))
                mask[i, j] = True
        return EncodedPrompts(hidden=hidden, mask=mask)


PROMPTS = [" ".join(f"w{(i * 7 + j) % 23}" for j in range(1 + i % 9)) for i in range(70)]


def reference_means(prompts: list[str]) -> np.ndarray:
    return np.stack([np.mean([word_vector(w) for w in p.split()], axis=0) for p in prompts])


def test_pooled_vectors_are_written_once_and_read_back_in_order(tmp_path: Path) -> None:
    enc = WordEncoder()
    first, cached = cached_pooled(enc, PROMPTS, tmp_path, batch_size=16)
    assert not cached and enc.calls == 5                      # ceil(70 / 16) batches
    np.testing.assert_allclose(first.numpy(), reference_means(PROMPTS), rtol=1e-5, atol=1e-5)
    again, cached = cached_pooled(enc, PROMPTS, tmp_path, batch_size=16)
    assert cached and enc.calls == 5                          # no model call on a hit
    assert torch.equal(again, first)
    assert len(list(tmp_path.glob("pooled-*.safetensors"))) == 1


@pytest.mark.parametrize("change", ["prompts", "order", "pooling", "layer"])
def test_any_change_of_key_encodes_again(tmp_path: Path, change: str) -> None:
    cached_pooled(WordEncoder(), PROMPTS, tmp_path)
    enc = WordEncoder(layer="l1" if change == "layer" else "l0")
    prompts = PROMPTS[:-1] if change == "prompts" else PROMPTS[::-1] if change == "order" else PROMPTS
    pooling = "last_k" if change == "pooling" else "auto"
    vectors, cached = cached_pooled(enc, prompts, tmp_path, pooling=pooling)
    assert not cached and enc.calls > 0
    assert vectors.shape == (len(prompts), 8)
    if change == "order":
        np.testing.assert_allclose(vectors.numpy(), reference_means(prompts), rtol=1e-5, atol=1e-5)
    assert len(list(tmp_path.glob("pooled-*.safetensors"))) == 2


def test_a_file_whose_key_or_bytes_do_not_match_is_encoded_again(tmp_path: Path) -> None:
    enc = WordEncoder()
    cached_pooled(enc, PROMPTS, tmp_path)
    path = cache_path(tmp_path, cache_key(enc, PROMPTS, "mean"))
    assert path.is_file()
    # another prompt list's file under this key's name (a hash collision or a hand copy): its key is checked
    other = WordEncoder()
    cached_pooled(other, PROMPTS[:10], tmp_path)
    path.write_bytes(cache_path(tmp_path, cache_key(other, PROMPTS[:10], "mean")).read_bytes())
    vectors, cached = cached_pooled(enc, PROMPTS, tmp_path)
    assert not cached
    np.testing.assert_allclose(vectors.numpy(), reference_means(PROMPTS), rtol=1e-5, atol=1e-5)
    # a truncated file
    path.write_bytes(path.read_bytes()[:-40])
    vectors, cached = cached_pooled(enc, PROMPTS, tmp_path)
    assert not cached
    np.testing.assert_allclose(vectors.numpy(), reference_means(PROMPTS), rtol=1e-5, atol=1e-5)
    assert cached_pooled(enc, PROMPTS, tmp_path)[1]            # the rewritten file is good again


def test_transfer_report_reads_its_encodings_from_the_cache_for_every_seed(tmp_path: Path) -> None:
    from steering_core import PromptPair, transfer_report

    pairs = {c: [PromptPair(f"w{i} w{i + 1} {c} calm", f"w{i} w{i + 1} {c} harm") for i in range(12)] for c in ("a", "b")}
    anchors = [f"w{i} w{(i * 5) % 31} w{(i * 3) % 17}" for i in range(40)]
    src, tgt = WordEncoder("l0"), WordEncoder("l1")
    plain = transfer_report(src, tgt, pairs, anchors, map_kind="procrustes", agreement=False)
    calls = src.calls + tgt.calls
    first = transfer_report(src, tgt, pairs, anchors, map_kind="procrustes", agreement=False, cache=tmp_path)
    assert src.calls + tgt.calls > calls and len(list(tmp_path.glob("pooled-*.safetensors"))) == 2
    calls = src.calls + tgt.calls
    again = transfer_report(src, tgt, pairs, anchors, map_kind="procrustes", agreement=False, cache=tmp_path)
    other_seed = transfer_report(src, tgt, pairs, anchors, map_kind="procrustes", agreement=False, seed=3, cache=tmp_path)
    assert src.calls + tgt.calls == calls                    # both reports read every vector from the cache
    assert [r.as_dict() for r in again.rows] == [r.as_dict() for r in first.rows]
    assert other_seed.split != first.split
    # batching by length changes nothing beyond float rounding
    for a, b in zip(plain.rows, first.rows):
        assert a.native_auroc == pytest.approx(b.native_auroc, abs=1e-9)
        assert a.sources[0].transferred_auroc == pytest.approx(b.sources[0].transferred_auroc, abs=1e-9)
