"""The bad-input corpus of ``tests/test_bad_inputs.py``: damaged files, bad widget and linked values.

Kept free of pytest. Files are written byte by byte (:func:`safetensors_bytes`), so every damage a
hand-edited or hostile file can carry is reachable: lengths, headers, dtypes, shapes, metadata types.
Widget cases are generated from a node's own declared inputs (``GET /object_info`` shape), so every
float, int, combo and string input of the nodes under test gets its out-of-range, non-finite and
unknown values.
"""

from __future__ import annotations

import json
import math
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from safetensors.torch import save

from steering_core import CATEGORIES
from steering_core.errors import printable
from steering_core.sae.autoencoder import SafetyFeatures, SparseAutoencoder
from steering_core.sae.safety_sae import SafetySAE, SiteSAE

#: the tiny Flux of the test kit reads 64-d text tokens and has 128-d blocks
CONTEXT_DIM = 64
HIDDEN = 128
GOOD_DIRECTION = "good_direction.safetensors"
GOOD_SAE = "good_sae.safetensors"


@dataclass
class Case:
    """One bad input. ``graph`` is an API prompt (None for direct calls); ``names``: the message must
    contain one of them (the input's id or the file's escaped name); ``expect``: ``error`` or ``success``."""

    name: str
    kind: str
    graph: dict[str, Any] | None = None
    names: tuple[str, ...] = ()
    expect: str = "error"
    call: Callable[[], Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# files
# --------------------------------------------------------------------------------------------


def safetensors_bytes(header: Any, data: bytes = b"", header_len: int | None = None) -> bytes:
    """A file in safetensors' layout: 8-byte little-endian header length, the header JSON, the data."""
    raw = header if isinstance(header, bytes) else json.dumps(header).encode("utf-8")
    return struct.pack("<Q", len(raw) if header_len is None else header_len) + raw + data


def _direction_bytes(k: int = 2, dim: int = CONTEXT_DIM, gates: bool = True, **changes: Any) -> bytes:
    """A valid SafetyDirection file's bytes (unit vectors), then ``changes`` applied to its header/tensors."""
    vectors = torch.nn.functional.normalize(torch.randn(k, dim, generator=torch.Generator().manual_seed(k)), dim=1)
    tensors = {"vectors": vectors, "scale": torch.ones(k)}
    if gates:
        tensors["thresholds"] = torch.zeros(k)
    tensors.update(changes.pop("tensors", {}))
    for name in changes.pop("drop", ()):
        tensors.pop(name)
    meta = {"safesteer.kind": "SafetyDirection", "safesteer.format_version": "1", "safesteer.dim": str(dim),
            "safesteer.categories": json.dumps(["global", "sexual"][:k] if k <= 2 else [f"c{i}" for i in range(k)]),
            "safesteer.pooling": "mean", "safesteer.layer": "", "safesteer.source_model": "test",
            "safesteer.source_fingerprint": "", "safesteer.info": "{}", "safesteer.sign": "safe_minus_unsafe"}
    meta.update(changes.pop("meta", {}))
    for key in changes.pop("drop_meta", ()):
        meta.pop(key)
    assert not changes, changes
    return save(tensors, metadata=meta)


def _rewrite_header(blob: bytes, edit: Callable[[dict[str, Any]], None]) -> bytes:
    """Decode a safetensors blob's header, ``edit`` it in place, re-encode (data unchanged)."""
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    edit(header)
    return safetensors_bytes(header, blob[8 + n:])


def _set(path: list[Any], value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(header: dict[str, Any]) -> None:
        node = header
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return edit


def direction_file_cases() -> list[tuple[str | bytes, bytes]]:
    """(file name, bytes) of damaged SafetyDirection files; names may be bytes (not UTF-8)."""
    good = _direction_bytes()
    pickle_like = b"\x80\x04\x95" + b"\x00" * 40 + b"ctorch._utils\n_rebuild_tensor_v2\n"
    deep = b"[" * 200_000 + b"]" * 200_000
    cases: list[tuple[str | bytes, bytes]] = [
        ("empty.safetensors", b""),
        ("four_bytes.safetensors", b"\x01\x02\x03\x04"),
        ("huge_header_len.safetensors", safetensors_bytes({}, header_len=2 ** 63)),
        ("header_past_end.safetensors", safetensors_bytes({"a": 1}, header_len=10_000)),
        ("header_not_json.safetensors", safetensors_bytes(b"{not json at all}")),
        ("header_is_list.safetensors", safetensors_bytes([1, 2, 3])),
        ("header_not_utf8.safetensors", safetensors_bytes(b'{"\xff\xfe": 1}')),
        ("header_deeply_nested.safetensors", safetensors_bytes(deep)),
        ("pickle_renamed.safetensors", pickle_like),
        ("plain_safetensors.safetensors", save({"x": torch.ones(3)})),
        ("wrong_kind.safetensors", _direction_bytes(meta={"safesteer.kind": "Alignment"})),
        ("version_5000_digits.safetensors", _direction_bytes(meta={"safesteer.format_version": "9" * 5000})),
        ("version_abc.safetensors", _direction_bytes(meta={"safesteer.format_version": "abc"})),
        ("version_newer.safetensors", _direction_bytes(meta={"safesteer.format_version": "99"})),
        ("version_unicode_digit.safetensors", _direction_bytes(meta={"safesteer.format_version": "\u0661"})),
        ("categories_int.safetensors", _direction_bytes(meta={"safesteer.categories": "5"})),
        ("categories_not_json.safetensors", _direction_bytes(meta={"safesteer.categories": "[global"})),
        ("categories_ints.safetensors", _direction_bytes(meta={"safesteer.categories": "[1, 2]"})),
        ("categories_dict.safetensors", _direction_bytes(meta={"safesteer.categories": '{"a": 1}'})),
        ("categories_repeated.safetensors", _direction_bytes(meta={"safesteer.categories": '["a", "a"]'})),
        ("categories_missing.safetensors", _direction_bytes(drop_meta=("safesteer.categories",))),
        ("dim_abc.safetensors", _direction_bytes(meta={"safesteer.dim": "abc"})),
        ("dim_5000_digits.safetensors", _direction_bytes(meta={"safesteer.dim": "7" * 5000})),
        ("dim_mismatch.safetensors", _direction_bytes(meta={"safesteer.dim": "65"})),
        ("dim_missing.safetensors", _direction_bytes(drop_meta=("safesteer.dim",))),
        ("info_list.safetensors", _direction_bytes(meta={"safesteer.info": "[1, 2]"})),
        ("info_not_json.safetensors", _direction_bytes(meta={"safesteer.info": "{"})),
        ("scale_wrong_shape.safetensors", _direction_bytes(tensors={"scale": torch.ones(3)})),
        ("scale_missing.safetensors", _direction_bytes(drop=("scale",))),
        ("vectors_missing.safetensors", _direction_bytes(drop=("vectors",))),
        ("vectors_int.safetensors", _direction_bytes(tensors={"vectors": torch.ones(2, CONTEXT_DIM, dtype=torch.int64)})),
        ("vectors_nan.safetensors", _direction_bytes(tensors={"vectors": torch.full((2, CONTEXT_DIM), float("nan"))})),
        ("vectors_not_unit.safetensors", _direction_bytes(tensors={"vectors": torch.ones(2, CONTEXT_DIM)})),
        ("vectors_3d.safetensors", _direction_bytes(tensors={"vectors": torch.ones(2, CONTEXT_DIM, 1)})),
        ("thresholds_wrong_shape.safetensors", _direction_bytes(tensors={"thresholds": torch.zeros(5)})),
        ("extra_tensor.safetensors", _direction_bytes(tensors={"junk": torch.zeros(1000)})),
        ("gate_vectors_alone.safetensors", _direction_bytes(tensors={"gate_vectors": torch.zeros(2, CONTEXT_DIM)})),
        ("truncated.safetensors", good[: len(good) - 100]),
        ("shape_claims_terabyte.safetensors",
         _rewrite_header(good, _set(["vectors", "shape"], [1 << 20, 1 << 20]))),
        ("offsets_past_end.safetensors", _rewrite_header(good, _set(["vectors", "data_offsets"], [0, 1 << 40]))),
        ("offsets_negative.safetensors", _rewrite_header(good, _set(["vectors", "data_offsets"], [-8, 8]))),
        ("dtype_unknown.safetensors", _rewrite_header(good, _set(["vectors", "dtype"], "F8_E4M3"))),
        ("dtype_markup.safetensors", _rewrite_header(good, _set(["vectors", "dtype"], "<script>"))),
        ("metadata_number.safetensors", _rewrite_header(good, _set(["__metadata__", "safesteer.dim"], 64))),
        ("metadata_list.safetensors", _rewrite_header(good, _set(["__metadata__"], ["a"]))),
        ("shape_negative.safetensors", _rewrite_header(good, _set(["scale", "shape"], [-2]))),
        ("shape_float.safetensors", _rewrite_header(good, _set(["scale", "shape"], [2.0]))),
        (b"caf\xe9_damaged.safetensors", b"not a safetensors file at all"),
        (b"caf\xe9_wrong_kind.safetensors", _direction_bytes(meta={"safesteer.kind": "SafetySAE"})),
        ("new\nline_\x1b[31mred.safetensors", b"\x00" * 16),
    ]
    return cases


def _sae_file(d_in: int = HIDDEN, d_sae: int = 256, k: int = 8, features: bool = True) -> SafetySAE:
    sae = SparseAutoencoder(d_in, d_sae, k=k, seed=0)
    feats = SafetyFeatures(torch.tensor([3, 7]), torch.ones(2), torch.zeros(2), torch.tensor([1]), torch.ones(1), 1.0) \
        if features else None
    return SafetySAE([SiteSAE("double:0", "img", sae, feats)], {"class": "Flux"})


def sae_file_cases(tmp: Path) -> list[tuple[str | bytes, bytes]]:
    """(file name, bytes) of damaged SafetySAE files."""
    path = tmp / "ref_sae.safetensors"
    if not path.exists():
        _sae_file().save(path)
    good = path.read_bytes()

    def sites(edit: Callable[[list[Any]], Any]) -> bytes:
        def apply(header: dict[str, Any]) -> None:
            entries = json.loads(header["__metadata__"]["safesteer.sites"])
            result = edit(entries)
            header["__metadata__"]["safesteer.sites"] = json.dumps(entries if result is None else result)
        return _rewrite_header(good, apply)

    def cfg(**values: Any) -> Callable[[list[Any]], None]:
        return lambda entries: entries[0]["config"].update(values)

    return [
        ("sae_claims_4096x32768.safetensors", sites(cfg(d_in=4096, d_sae=32768))),
        ("sae_claims_2p20_square.safetensors", sites(cfg(d_in=1 << 20, d_sae=1 << 20))),
        ("sae_d_sae_string.safetensors", sites(cfg(d_sae="256"))),
        ("sae_d_in_bool.safetensors", sites(cfg(d_in=True))),
        ("sae_d_in_float.safetensors", sites(cfg(d_in=128.5))),
        ("sae_k_too_big.safetensors", sites(cfg(k=100_000))),
        ("sae_activation_unknown.safetensors", sites(cfg(activation="gelu"))),
        ("sae_input_scale_nan.safetensors", sites(cfg(input_scale="nan"))),
        ("sae_config_list.safetensors", sites(lambda e: e[0].update(config=[1, 2]))),
        ("sae_stream_unknown.safetensors", sites(lambda e: e[0].update(stream="audio"))),
        ("sae_site_int.safetensors", sites(lambda e: e[0].update(site=5))),
        ("sae_sites_dict.safetensors", sites(lambda e: {"a": 1})),
        ("sae_sites_ints.safetensors", sites(lambda e: [1, 2])),
        ("sae_sites_empty.safetensors", sites(lambda e: [])),
        ("sae_harm_scale_str.safetensors", sites(lambda e: e[0]["features"].update(harm_scale="abc"))),
        ("sae_features_list.safetensors", sites(lambda e: e[0].update(features=[1]))),
        ("sae_info_list.safetensors", sites(lambda e: e[0].update(info=[1]))),
        ("sae_model_list.safetensors", _rewrite_header(good, _set(["__metadata__", "safesteer.model"], "[1]"))),
        ("sae_w_enc_shape.safetensors", _rewrite_header(good, _set(["site0.W_enc", "shape"], [256, 128]))),
        ("sae_harmful_float.safetensors", _rewrite_header(good, _set(["site0.features.harmful", "dtype"], "F32"))),
        ("sae_harmful_out_of_range.safetensors", _sae_bytes_with(tmp, harmful=torch.tensor([3, 9999]))),
        ("sae_direction_kind.safetensors", _direction_bytes()),
        ("sae_truncated.safetensors", good[:-64]),
        (b"sae_caf\xe9.safetensors", good[:200]),
    ]


def _sae_bytes_with(tmp: Path, harmful: torch.Tensor) -> bytes:
    """A SAE file whose harmful latent indices are ``harmful`` (written through safetensors directly)."""
    path = tmp / "ref_sae.safetensors"
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as fh:
        tensors = {k: fh.get_tensor(k) for k in fh.keys()}
        meta = fh.metadata()
    tensors["site0.features.harmful"] = harmful
    return save(tensors, metadata=meta)


def write_file(folder: Path, name: str | bytes, data: bytes) -> str:
    """Write ``data`` as ``folder/name`` (``name`` may be non-UTF-8 bytes); return the name as ComfyUI lists it."""
    target = os.path.join(os.fsencode(folder), name if isinstance(name, bytes) else os.fsencode(name))
    with open(target, "wb") as fh:
        fh.write(data)
    return os.fsdecode(name if isinstance(name, bytes) else os.fsencode(name))


def shown_name(name: str) -> str:
    """How SafeSteer's messages show a file name (escaped, see steering_core.errors.printable)."""
    return printable(name, 1 << 30)


def write_good_files(directions: Path, saes: Path) -> None:
    """The reference direction (2 gated categories, 64-d) and SAE (one 128-d site) the graphs use."""
    directions.mkdir(parents=True, exist_ok=True)
    saes.mkdir(parents=True, exist_ok=True)
    (directions / GOOD_DIRECTION).write_bytes(_direction_bytes())
    _sae_file().save(saes / GOOD_SAE)
    # a valid file whose name is not UTF-8: it must list and load like any other
    write_file(directions, b"caf\xe9_valid.safetensors", _direction_bytes())


# --------------------------------------------------------------------------------------------
# graphs
# --------------------------------------------------------------------------------------------


def base_graph(sampler_seed: int = 3) -> dict[str, dict[str, Any]]:
    """Tiny Flux -> KSampler (2 steps) -> latent stats; the nodes under test go between."""
    return {
        "model": {"class_type": "SafeSteerTinyModel", "inputs": {"arch": "flux", "seed": 0, "context_dim": 0, "pooled_dim": 0}},
        "latent": {"class_type": "SafeSteerTinyLatent", "inputs": {"arch": "flux", "batch": 1, "seed": -1}},
        "pos": {"class_type": "SafeSteerTinyConditioning",
                "inputs": {"arch": "flux", "seed": 1, "tokens": 7, "context_dim": 0, "pooled_dim": 0}},
        "neg": {"class_type": "SafeSteerTinyConditioning",
                "inputs": {"arch": "flux", "seed": 2, "tokens": 7, "context_dim": 0, "pooled_dim": 0}},
        "sampler": {"class_type": "KSampler", "inputs": {
            "model": ["model", 0], "seed": sampler_seed, "steps": 2, "cfg": 2.0, "sampler_name": "euler",
            "scheduler": "simple", "positive": ["pos", 0], "negative": ["neg", 0], "latent_image": ["latent", 0],
            "denoise": 1.0}},
        "stats": {"class_type": "SafeSteerTinyLatentStats", "inputs": {"latent": ["sampler", 0]}},
    }


#: the Multi-Category nodes' sliders: global 0, every category 1 (the node defaults)
CATEGORY_STRENGTHS = {"global_strength": 0.0, **{f"{c}_strength": 1.0 for c in CATEGORIES}}
DIT_DEFAULTS = {"strength": 2.0, "mode": "add", "sites": "all", "stream": "both", "start_percent": 0.0,
                "end_percent": 1.0, "cond_only": True}


def reference_graph(variant: int = 0) -> dict[str, dict[str, Any]]:
    """The graph whose latent must stay bit-identical through the whole corpus: a steered tiny Flux.

    Two variants (sampler seeds 3 and 4) are run in turn, so that a host that caches unchanged nodes
    still samples (and steers) anew every time."""
    g = base_graph(sampler_seed=3 + variant % 2)
    g["load"] = {"class_type": "SafeSteerLoadDirection", "inputs": {"direction_name": GOOD_DIRECTION, "categories": "all"}}
    g["steer"] = {"class_type": "SafeSteerDiTSteer", "inputs": {"model": ["model", 0], "direction": ["load", 0], **DIT_DEFAULTS}}
    g["sampler"]["inputs"]["model"] = ["steer", 0]
    return g


def harness(node_id: str) -> tuple[dict[str, dict[str, Any]], str]:
    """A graph in which ``node_id`` (key ``"x"``) runs with good inputs, ahead of an output node."""
    g = base_graph()
    g["load"] = {"class_type": "SafeSteerLoadDirection", "inputs": {"direction_name": GOOD_DIRECTION, "categories": "all"}}
    if node_id == "SafeSteerLoadDirection":
        g["x"] = g.pop("load")
        g["steer"] = {"class_type": "SafeSteerDiTSteer", "inputs": {"model": ["model", 0], "direction": ["x", 0], **DIT_DEFAULTS}}
        g["sampler"]["inputs"]["model"] = ["steer", 0]
    elif node_id == "SafeSteerDiTSteer":
        g["x"] = {"class_type": node_id, "inputs": {"model": ["model", 0], "direction": ["load", 0], **DIT_DEFAULTS}}
        g["sampler"]["inputs"]["model"] = ["x", 0]
    elif node_id == "SafeSteerMultiCategoryModel":
        g["x"] = {"class_type": node_id, "inputs": {
            "model": ["model", 0], "direction": ["load", 0], **CATEGORY_STRENGTHS,
            "sites": "all", "stream": "both", "start_percent": 0.0, "end_percent": 1.0, "cond_only": True}}
        g["sampler"]["inputs"]["model"] = ["x", 0]
    elif node_id == "SafeSteerApplyConditioning":
        g["x"] = {"class_type": node_id, "inputs": {"positive": ["pos", 0], "direction": ["load", 0], "strength": 1.0,
                                                    "mode": "gated", "token_scope": "prompt"}}
        g["sampler"]["inputs"]["positive"] = ["x", 0]
    elif node_id == "SafeSteerMultiCategoryConditioning":
        g["x"] = {"class_type": node_id, "inputs": {"positive": ["pos", 0], "direction": ["load", 0],
                                                    **CATEGORY_STRENGTHS}}
        g["sampler"]["inputs"]["positive"] = ["x", 0]
    elif node_id == "SafeSteerSafetyMonitor":
        g["x"] = {"class_type": node_id, "inputs": {"model": ["model", 0], "direction": ["load", 0], "sites": "all",
                                                    "stream": "img", "category": "", "label": "steered"}}
        g["sampler"]["inputs"]["model"] = ["x", 0]
    elif node_id in ("SafeSteerSAEBlendRepel", "SafeSteerLoadSAE"):
        g["sae"] = {"class_type": "SafeSteerLoadSAE", "inputs": {"sae_name": GOOD_SAE}}
        g["blend"] = {"class_type": "SafeSteerSAEBlendRepel", "inputs": {
            "model": ["model", 0], "sae": ["sae", 0], "beta": 0.5, "gamma": 1.0, "sites": "all", "start_percent": 0.0,
            "end_percent": 1.0, "cond_only": True, "path": "fast"}}
        g["x"] = g.pop("sae" if node_id == "SafeSteerLoadSAE" else "blend")
        if node_id == "SafeSteerLoadSAE":
            g["blend"]["inputs"]["sae"] = ["x", 0]
        else:
            g["x"]["inputs"]["sae"] = ["sae", 0]
        g["sampler"]["inputs"]["model"] = ["x" if node_id == "SafeSteerSAEBlendRepel" else "blend", 0]
    elif node_id == "SafeSteerSaveDirection":
        g = {"load": g["load"], "x": {"class_type": node_id, "inputs": {"direction": ["load", 0], "filename": "corpus_save"}}}
    elif node_id == "SafeSteerStrengthSweep":
        g["x"] = {"class_type": node_id, "inputs": {"strengths": "0, 1"}}
        g["steer"] = {"class_type": "SafeSteerDiTSteer", "inputs": {"model": ["model", 0], "direction": ["load", 0],
                                                                    **{**DIT_DEFAULTS, "strength": ["x", 0]}}}
        g["sampler"]["inputs"]["model"] = ["steer", 0]
    else:
        raise KeyError(node_id)
    return g, "x"


#: nodes whose widget inputs the HTTP and in-process graph cases cover
HARNESSED = ("SafeSteerLoadDirection", "SafeSteerDiTSteer", "SafeSteerMultiCategoryModel", "SafeSteerApplyConditioning",
             "SafeSteerMultiCategoryConditioning", "SafeSteerSafetyMonitor", "SafeSteerSAEBlendRepel", "SafeSteerLoadSAE",
             "SafeSteerSaveDirection", "SafeSteerStrengthSweep")


def widget_specs(info: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """``(input id, type, options)`` of a node's widget inputs from its ``/object_info`` entry."""
    out = []
    for group in ("required", "optional"):
        for name, spec in (info.get("input", {}).get(group) or {}).items():
            kind, opts = spec[0], (spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {})
            if isinstance(kind, list):
                out.append((name, "COMBO", {**opts, "options": kind}))
            elif kind in ("FLOAT", "INT", "STRING", "BOOLEAN", "COMBO") and not opts.get("forceInput"):
                out.append((name, kind, opts))
    return out


def bad_values(kind: str, opts: dict[str, Any], mode: str) -> list[tuple[str, Any]]:
    """(label, value) pairs a node must refuse for one declared input.

    ``mode``: ``direct`` (no host in between: wrong types too), ``inprocess`` (values ComfyUI's validator
    lets through to the node: NaN, unknown combo values, NUL, long strings) or ``http`` (those plus
    out-of-range values, which the server's validator refuses itself, naming the input).
    """
    low, high = opts.get("min"), opts.get("max")
    out_of_range = [("above max", high * 10 + 1000)] if high is not None else []
    out_of_range += [("below min", low - 1000)] if low is not None and (high is None or mode == "http") else []
    values: list[tuple[str, Any]] = []
    if kind == "FLOAT":
        values.append(("nan", math.nan))
        if mode != "inprocess":
            values += [("inf", math.inf)] + out_of_range
        if mode == "direct":
            values += [("text", "abc"), ("bool", True)]
    elif kind == "INT":
        if mode != "inprocess":
            values += out_of_range
        if mode == "direct":
            values += [("fraction", 1.5), ("text", "abc")]
    elif kind == "COMBO":
        values.append(("unknown", "__not_an_option__"))
        if mode == "inprocess":
            values.append(("path", "../../../etc/passwd"))
        if mode == "direct":
            values.append(("number", 5))
    elif kind == "STRING":
        values.append(("NUL", "a\x00b"))
        if not opts.get("multiline") and mode != "http":
            values.append(("5000 chars", "x" * 5000))
        if mode == "direct":
            values.append(("number", 7))
    elif kind == "BOOLEAN" and mode == "direct":
        values.append(("text", "yes"))
    return values
