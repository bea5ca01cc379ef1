"""Tests for SafeSteer files: bit-exact round trips, load dispatch, overwrite protection, damaged
files, and the guarantee that nothing is ever unpickled."""

from __future__ import annotations

import json
import pickle
import struct
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

import steering_core as sc
from steering_core.alignment.maps import Alignment, LowCoverageWarning
from steering_core.directions.direction import SafetyDirection
from steering_core.errors import (
    DimensionMismatchError,
    NonFiniteError,
    SafeSteerFileError,
    WrongFileKindError,
)

pytestmark = pytest.mark.host_independent

DS, DT = 12, 8
PACKAGE_DIR = Path(sc.__file__).resolve().parent


# ---------------------------------------------------------------------- builders
def _direction(dim: int = DS, seed: int = 0) -> SafetyDirection:
    """A three-category (+ global) direction with gate thresholds and centres."""
    g = torch.Generator().manual_seed(seed)
    data = {}
    for i, cat in enumerate(("sexual", "violence", "hate")):
        shift = torch.zeros(dim)
        shift[i] = 2.0 + i
        safe = torch.randn(20 + i, dim, generator=g) + shift
        unsafe = torch.randn(17 + 2 * i, dim, generator=g)
        data[cat] = (safe, unsafe)
    direction = sc.estimate_category_directions(
        data, pooling="last_k", k=3, layer="hidden_states[-2]", source_model="test/model-a",
        source_fingerprint="sha256:abc123", info={"note": "unit test", "odd_float": 0.1 + 0.2, "tiny": 5e-324,
                                                  "nested": {"x": [1.5, -2.25e-17, 3]}},
    )
    benign = torch.randn(40, dim, generator=g)
    return sc.calibrate_gates(direction, benign, false_positive_rate=0.1)


def _anchors(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, DS, generator=g) * 2.0 + 1.0
    w = torch.randn(DS, DT, generator=g)
    y = torch.tanh(x @ w / 4.0) + 0.05 * torch.randn(n, DT, generator=g) - 0.5
    return x, y


def _alignment(kind: str, solve: str = "primal") -> Alignment:
    names = dict(source_model="src/m", target_model="tgt/m", source_layer="L3", target_layer="L5",
                 source_fingerprint="fp-s", target_fingerprint="fp-t")
    if kind == "ridge":
        n = 60 if solve == "primal" else 8  # dual when the training anchors are fewer than DS
        x, y = _anchors(n, seed=1)
        alignment = sc.fit_alignment(x, y, kind="ridge", **names)
        assert alignment.settings["solve"] == solve
        assert ("map.weight" in alignment.params) == (solve == "primal")
        return alignment
    x, y = _anchors(48, seed=2)
    if kind == "mlp":
        return sc.fit_alignment(x, y, kind="mlp", mlp=sc.MLPTrainConfig(epochs=20), **names)
    return sc.fit_alignment(x, y, kind=kind, **names)


ALIGNMENT_CASES = [("ridge", "primal"), ("ridge", "dual"), ("procrustes", "primal"), ("mlp", "primal")]
ALIGNMENT_IDS = ["ridge-primal", "ridge-dual", "procrustes", "mlp"]


def _assert_direction_equal(a: SafetyDirection, b: SafetyDirection) -> None:
    """Every tensor bit-identical and every other field equal."""
    assert torch.equal(a.vectors, b.vectors) and a.vectors.dtype == b.vectors.dtype
    assert torch.equal(a.scale, b.scale) and a.scale.dtype == b.scale.dtype
    for name in ("thresholds", "centres", "gate_vectors", "gate_offsets"):
        ta, tb = getattr(a, name), getattr(b, name)
        assert (ta is None) == (tb is None), name
        if ta is not None:
            assert torch.equal(ta, tb) and ta.dtype == tb.dtype, name
    assert a.categories == b.categories
    assert a.pooling == b.pooling
    assert a.layer == b.layer
    assert a.source_model == b.source_model
    assert a.source_fingerprint == b.source_fingerprint
    assert a.info == b.info


def _transport(alignment: Alignment, direction: SafetyDirection) -> SafetyDirection:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LowCoverageWarning)
        return alignment.transport(direction)


def _write_raw(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None) -> Path:
    save_file(tensors, str(path), metadata=metadata)
    return path


def _split_file(path: Path) -> tuple[dict, bytes]:
    """(parsed header, data section) of a safetensors file."""
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8:8 + n]), raw[8 + n:]


def _direction_meta(dim: int, categories: list[str], **extra: str) -> dict[str, str]:
    meta = {"safesteer.kind": "SafetyDirection", "safesteer.format_version": "1", "safesteer.dim": str(dim),
            "safesteer.categories": json.dumps(categories)}
    meta.update(extra)
    return meta


# ---------------------------------------------------------------------- round trips
def test_direction_round_trip_is_bit_exact(tmp_path: Path) -> None:
    """A multi-category direction with gates survives save/load bit for bit, info floats included."""
    direction = _direction()
    assert direction.thresholds is not None and direction.centres is not None
    assert direction.categories == ("global", "sexual", "violence", "hate")
    path = direction.save(tmp_path / "dir.safetensors")
    loaded = SafetyDirection.load(path)
    _assert_direction_equal(direction, loaded)
    assert loaded.info["odd_float"] == 0.30000000000000004
    assert loaded.info["tiny"] == 5e-324
    # saving the loaded object again gives the same header (as JSON; safetensors orders metadata keys
    # arbitrarily) and the same tensor bytes
    again = loaded.save(tmp_path / "dir2.safetensors")
    assert _split_file(again) == _split_file(path)


def test_direction_without_gates_round_trip(tmp_path: Path) -> None:
    """Optional thresholds/centres stay absent after a round trip."""
    direction = SafetyDirection.from_vectors(torch.randn(3, 5, generator=torch.Generator().manual_seed(3)))
    loaded = SafetyDirection.load(direction.save(tmp_path / "plain.safetensors"))
    assert loaded.thresholds is None and loaded.centres is None
    _assert_direction_equal(direction, loaded)


@pytest.mark.parametrize("kind,solve", ALIGNMENT_CASES, ids=ALIGNMENT_IDS)
def test_alignment_round_trip_is_bit_exact(tmp_path: Path, kind: str, solve: str) -> None:
    """Alignment tensors, metadata, transform outputs and transported directions are identical after load."""
    alignment = _alignment(kind, solve)
    path = alignment.save(tmp_path / f"{kind}.safetensors")
    loaded = Alignment.load(path)

    assert loaded.kind == alignment.kind
    assert loaded.params.keys() == alignment.params.keys()
    for name, tensor in alignment.params.items():
        assert torch.equal(loaded.params[name], tensor), name
    for name in ("source_mean", "target_mean", "source_basis", "source_anchor_sample", "target_anchor_sample"):
        assert torch.equal(getattr(loaded, name), getattr(alignment, name)), name
    assert loaded.beta == alignment.beta
    assert loaded.settings == alignment.settings
    assert loaded.diagnostics == alignment.diagnostics
    for name in ("source_model", "target_model", "source_layer", "target_layer", "source_fingerprint",
                 "target_fingerprint"):
        assert getattr(loaded, name) == getattr(alignment, name), name

    x = torch.randn(5, 3, DS, generator=torch.Generator().manual_seed(9))
    out_a, out_b = alignment.transform(x), loaded.transform(x)
    assert out_a.shape == (5, 3, DT)
    assert torch.equal(out_a, out_b)

    direction = _direction(DS, seed=4)
    ta, tb = _transport(alignment, direction), _transport(loaded, direction)
    assert torch.equal(ta.vectors, tb.vectors)
    assert torch.equal(ta.scale, tb.scale)
    assert torch.equal(ta.thresholds, tb.thresholds)
    assert torch.equal(ta.centres, tb.centres)
    assert ta.info == tb.info


def test_transported_direction_round_trip(tmp_path: Path) -> None:
    """A transported direction (info holds a transport report) round-trips and keeps its report."""
    alignment = _alignment("ridge", "primal")
    moved = _transport(alignment, _direction(DS, seed=5))
    loaded = SafetyDirection.load(moved.save(tmp_path / "moved.safetensors"))
    _assert_direction_equal(moved, loaded)
    assert sc.transport_report(loaded) == sc.transport_report(moved)


@pytest.mark.parametrize("kind,solve", ALIGNMENT_CASES, ids=ALIGNMENT_IDS)
def test_load_dispatches_on_kind(tmp_path: Path, kind: str, solve: str) -> None:
    """steering_core.load returns an Alignment for alignment files and a SafetyDirection for direction files."""
    alignment = _alignment(kind, solve)
    loaded = sc.load(alignment.save(tmp_path / "a.safetensors"))
    assert type(loaded) is Alignment
    assert loaded.kind == kind
    assert torch.equal(loaded.transform(alignment.source_mean), alignment.transform(alignment.source_mean))


def test_load_dispatches_direction(tmp_path: Path) -> None:
    direction = _direction()
    loaded = sc.load(direction.save(tmp_path / "d.safetensors"))
    assert type(loaded) is SafetyDirection
    _assert_direction_equal(direction, loaded)


def test_load_unknown_kind_raises(tmp_path: Path) -> None:
    """A SafeSteer file of a kind this install does not know is refused by load()."""
    path = _write_raw(tmp_path / "future.safetensors", {"x": torch.zeros(2)},
                      {"safesteer.kind": "SteeringPlan", "safesteer.format_version": "1"})
    with pytest.raises(SafeSteerFileError, match="SteeringPlan"):
        sc.load(path)


# ---------------------------------------------------------------------- overwrite protection
def test_save_refuses_to_overwrite_and_keeps_old_bytes(tmp_path: Path) -> None:
    """Saving over an existing file raises and leaves it untouched; overwrite=True replaces it."""
    first, second = _direction(seed=0), _direction(seed=1)
    path = first.save(tmp_path / "d.safetensors")
    old = path.read_bytes()
    with pytest.raises(SafeSteerFileError, match="already exists"):
        second.save(path)
    assert path.read_bytes() == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.safetensors"]  # no stray temp file
    second.save(path, overwrite=True)
    assert path.read_bytes() != old
    _assert_direction_equal(second, SafetyDirection.load(path))


def test_alignment_save_refuses_to_overwrite(tmp_path: Path) -> None:
    """Alignment.save has the same overwrite protection, also across file kinds."""
    path = _direction().save(tmp_path / "x.safetensors")
    old = path.read_bytes()
    alignment = _alignment("procrustes")
    with pytest.raises(SafeSteerFileError, match="already exists"):
        alignment.save(path)
    assert path.read_bytes() == old
    alignment.save(path, overwrite=True)
    assert isinstance(sc.load(path), Alignment)


# ---------------------------------------------------------------------- error cases
def test_direction_load_of_alignment_file_is_wrong_kind(tmp_path: Path) -> None:
    path = _alignment("procrustes").save(tmp_path / "a.safetensors")
    with pytest.raises(WrongFileKindError, match="holds a Alignment, but a SafetyDirection was expected"):
        SafetyDirection.load(path)


def test_alignment_load_of_direction_file_is_wrong_kind(tmp_path: Path) -> None:
    path = _direction().save(tmp_path / "d.safetensors")
    with pytest.raises(WrongFileKindError, match="holds a SafetyDirection, but a Alignment was expected"):
        Alignment.load(path)


def test_expected_dim_mismatch(tmp_path: Path) -> None:
    """expected_dim different from the stored hidden size raises DimensionMismatchError naming both sizes."""
    path = _direction(DS).save(tmp_path / "d.safetensors")
    with pytest.raises(DimensionMismatchError, match=rf"hidden size {DS}.*hidden size {DS + 1}"):
        SafetyDirection.load(path, expected_dim=DS + 1)
    assert SafetyDirection.load(path, expected_dim=DS).dim == DS


def test_nan_tensor_raises_nonfinite(tmp_path: Path) -> None:
    """A tensor with NaN is refused with NonFiniteError naming the tensor."""
    vectors = torch.eye(2, 4)
    vectors[1, 2] = float("nan")
    path = _write_raw(tmp_path / "nan.safetensors", {"vectors": vectors, "scale": torch.ones(2)},
                      _direction_meta(4, ["a", "b"]))
    with pytest.raises(NonFiniteError, match=r"'vectors'.*NaN"):
        SafetyDirection.load(path)
    with pytest.raises(NonFiniteError):
        sc.load(path)


def test_valid_raw_file_loads(tmp_path: Path) -> None:
    """Control for the hand-written files below: the same layout without defects loads."""
    path = _write_raw(tmp_path / "ok.safetensors", {"vectors": torch.eye(2, 4), "scale": torch.tensor([1.0, 2.0])},
                      _direction_meta(4, ["a", "b"]))
    loaded = SafetyDirection.load(path)
    assert loaded.categories == ("a", "b") and torch.equal(loaded.scale, torch.tensor([1.0, 2.0]))


def test_missing_scale_tensor(tmp_path: Path) -> None:
    path = _write_raw(tmp_path / "noscale.safetensors", {"vectors": torch.eye(2, 4)}, _direction_meta(4, ["a", "b"]))
    with pytest.raises(SafeSteerFileError, match="'scale'"):
        SafetyDirection.load(path)


@pytest.mark.parametrize("cut", [1, 7, 64, "half", "header"])
def test_truncated_file(tmp_path: Path, cut: object) -> None:
    """A valid file with its tail cut off is reported as truncated."""
    good = _direction().save(tmp_path / "good.safetensors").read_bytes()
    header_len = struct.unpack("<Q", good[:8])[0]
    n_keep = {"half": len(good) // 2, "header": 8 + header_len // 2}.get(cut, None) if isinstance(cut, str) else len(good) - cut
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(good[:n_keep])
    for loader in (SafetyDirection.load, sc.load):
        with pytest.raises(SafeSteerFileError, match="truncated"):
            loader(bad)


@pytest.mark.parametrize("content", [
    np.random.default_rng(0).bytes(300),
    b"",
    b"abc",
    json.dumps({"safesteer.kind": "SafetyDirection", "vectors": [[1, 0], [0, 1]]}).encode(),
], ids=["random-bytes", "empty", "tiny", "json-text"])
@pytest.mark.parametrize("loader", [SafetyDirection.load, Alignment.load, sc.load], ids=["direction", "alignment", "any"])
def test_not_a_safetensors_file(tmp_path: Path, content: bytes, loader) -> None:
    path = tmp_path / "junk.safetensors"
    path.write_bytes(content)
    with pytest.raises(SafeSteerFileError, match="not a safetensors file"):
        loader(path)


@pytest.mark.parametrize("loader", [SafetyDirection.load, Alignment.load, sc.load], ids=["direction", "alignment", "any"])
def test_plain_safetensors_is_not_a_safesteer_file(tmp_path: Path, loader) -> None:
    path = _write_raw(tmp_path / "plain.safetensors", {"vectors": torch.eye(2, 4), "scale": torch.ones(2)}, None)
    with pytest.raises(SafeSteerFileError, match="not a SafeSteer file"):
        loader(path)


@pytest.mark.parametrize("loader", [SafetyDirection.load, sc.load], ids=["direction", "any"])
def test_newer_format_version(tmp_path: Path, loader) -> None:
    meta = _direction_meta(4, ["a", "b"])
    meta["safesteer.format_version"] = "99"
    path = _write_raw(tmp_path / "v99.safetensors", {"vectors": torch.eye(2, 4), "scale": torch.ones(2)}, meta)
    with pytest.raises(SafeSteerFileError, match="newer"):
        loader(path)


@pytest.mark.parametrize("loader", [SafetyDirection.load, Alignment.load, sc.load], ids=["direction", "alignment", "any"])
def test_nonexistent_path(tmp_path: Path, loader) -> None:
    with pytest.raises(SafeSteerFileError, match="does not exist"):
        loader(tmp_path / "missing.safetensors")


@pytest.mark.parametrize("offsets", [["0", "8"], [0, "8"], "0-8", [0], [0, 8, 16]],
                         ids=["strings", "string-end", "not-a-list", "one", "three"])
@pytest.mark.parametrize("loader", [SafetyDirection.load, sc.load], ids=["direction", "any"])
def test_damaged_header_offsets_raise_file_error(tmp_path: Path, offsets: object, loader) -> None:
    """A hand-damaged header whose data_offsets are not two integers is a SafeSteerFileError, not a crash."""
    header = {"__metadata__": {"safesteer.kind": "SafetyDirection", "safesteer.format_version": "1"},
              "vectors": {"dtype": "F32", "shape": [2], "data_offsets": offsets}}
    raw = json.dumps(header).encode()
    path = tmp_path / "damaged.safetensors"
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + b"\0" * 8)
    with pytest.raises(SafeSteerFileError):
        loader(path)


def test_mlp_alignment_without_scales_in_settings_is_a_file_error(tmp_path: Path) -> None:
    """An MLP Alignment file whose settings lack in_scale/out_scale is damaged: SafeSteerFileError, not KeyError."""
    from safetensors import safe_open

    good = _alignment("mlp").save(tmp_path / "mlp.safetensors")
    with safe_open(str(good), framework="pt") as fh:
        meta = dict(fh.metadata())
        tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    meta["safesteer.settings"] = "{}"
    path = _write_raw(tmp_path / "mlp-damaged.safetensors", tensors, meta)
    with pytest.raises(SafeSteerFileError):
        Alignment.load(path).transform(torch.zeros(DS))


def test_directory_path(tmp_path: Path) -> None:
    with pytest.raises(SafeSteerFileError, match="not a file"):
        SafetyDirection.load(tmp_path)


# ---------------------------------------------------------------------- no pickle, ever
def test_loading_never_unpickles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With torch.load and pickle.load(s) booby-trapped, both kinds of file still load."""
    d_path = _direction().save(tmp_path / "d.safetensors")
    a_paths = {kind: _alignment(kind, solve).save(tmp_path / f"{kind}-{solve}.safetensors")
               for kind, solve in ALIGNMENT_CASES}

    def boom(*args, **kwargs):
        raise AssertionError("unpickling attempted")

    monkeypatch.setattr(torch, "load", boom)
    monkeypatch.setattr(torch.serialization, "load", boom)
    monkeypatch.setattr(pickle, "load", boom)
    monkeypatch.setattr(pickle, "loads", boom)
    monkeypatch.setattr(pickle, "Unpickler", boom)

    assert isinstance(SafetyDirection.load(d_path), SafetyDirection)
    assert isinstance(sc.load(d_path), SafetyDirection)
    for kind, path in a_paths.items():
        alignment = Alignment.load(path)
        assert alignment.kind == kind
        assert isinstance(sc.load(path), Alignment)
        alignment.transform(torch.zeros(DS))  # the MLP module is built lazily; build it under the trap too


def test_no_pickle_in_source() -> None:
    """No module of steering_core calls torch.load( or imports pickle."""
    files = sorted(PACKAGE_DIR.rglob("*.py"))
    assert len(files) >= 10
    offenders = []
    for path in files:
        text = path.read_text(encoding="utf-8")
        for needle in ("torch.load(", "import pickle", "from pickle"):
            if needle in text:
                offenders.append(f"{path.relative_to(PACKAGE_DIR)}: {needle}")
    assert offenders == []
