"""SafetyDirection: unit safety directions for one or several categories, with calibration.

Sign convention: every vector points from **unsafe toward safe** (mean safe activation minus
mean unsafe activation), so adding it with positive strength makes output safer and a higher
projection means safer.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch

from ..errors import DimensionMismatchError, SafeSteerError, SafeSteerFileError, show_path
from ..files.format import MAX_CATEGORIES, MAX_DIM, FileHeader, decode_json, encode_json, read_safesteer_file, write_safesteer_file
from .metrics import auroc, calibrate_threshold, unit_rows
from .pooling import POOLING_CHOICES, TOKEN_POOLINGS, pool
from ..validation import as_float_tensor, require_finite

KIND = "SafetyDirection"
GLOBAL = "global"


@dataclass(frozen=True)
class SafetyDirection:
    """One safety direction per category, all in one activation space.

    Attributes:
        vectors: ``[K, D]`` float32, unit L2 norm, pointing unsafe -> safe.
        categories: K category names, e.g. ("global", "sexual", "violence").
        scale: ``[K]`` magnitude of each direction in this space: the L2 norm of the raw
            safe-minus-unsafe mean difference, or ``beta * |v_source|`` after transport. The "add"
            steering mode adds ``strength * scale * vector``, so strength 1 shifts activations by one
            typical safe/unsafe gap.
        thresholds: optional ``[K]`` gate thresholds in gate-score units (see ``gate_scores``),
            calibrated on benign prompts only; a gate fires where the score is below its threshold.
        centres: optional ``[K]`` mean projection of benign prompts (reference for project-out).
        gate_vectors, gate_offsets: optional ``[K, D]`` / ``[K]`` linear read-outs used for gating
            instead of the plain projection: ``gate score = h @ gate_vectors[k] + gate_offsets[k]``.
            Only files written by earlier versions carry them (their transport attached ridge
            read-outs of the source score, with thresholds in read-out units, so they keep gating
            with them); nothing sets them now: on real cross-model pairs the transported
            projection gated as well or better (README, *Real cross-model transfer*).
        pooling: how prompts were pooled ("mean", "last_k", "robust_mean", "robust_last_k", "pooled").
        layer: the layer or site the activations came from, free text (e.g. "hidden_states[-1]").
        source_model: name of the model whose space the vectors live in.
        source_fingerprint: a hash of that model's weights, where known.
        info: JSON-serialisable statistics and provenance (pair counts, AUROCs, transport report).
    """

    vectors: torch.Tensor
    categories: tuple[str, ...]
    scale: torch.Tensor
    thresholds: torch.Tensor | None = None
    centres: torch.Tensor | None = None
    gate_vectors: torch.Tensor | None = None
    gate_offsets: torch.Tensor | None = None
    pooling: str = "mean"
    layer: str = ""
    source_model: str = ""
    source_fingerprint: str = ""
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        v = self.vectors
        if v.ndim != 2:
            raise SafeSteerError(f"SafetyDirection.vectors must be [K, D], got shape {tuple(v.shape)}.")
        k = v.shape[0]
        if len(self.categories) != k:
            raise SafeSteerError(f"{k} direction vectors but {len(self.categories)} category names.")
        if len(set(self.categories)) != k:
            raise SafeSteerError(f"category names must be unique, got {list(self.categories)}.")
        for name, t in (("scale", self.scale), ("thresholds", self.thresholds), ("centres", self.centres),
                        ("gate_offsets", self.gate_offsets)):
            if t is not None and tuple(t.shape) != (k,):
                raise SafeSteerError(f"SafetyDirection.{name} must have shape [{k}], got {tuple(t.shape)}.")
        if (self.gate_vectors is None) != (self.gate_offsets is None):
            raise SafeSteerError("gate_vectors and gate_offsets go together; give both or neither.")
        if self.gate_vectors is not None:
            if tuple(self.gate_vectors.shape) != tuple(v.shape):
                raise SafeSteerError(f"gate_vectors must have shape {tuple(v.shape)}, got {tuple(self.gate_vectors.shape)}.")
            require_finite(self.gate_vectors, "gate vectors")
        require_finite(v, "direction vectors")
        require_finite(self.scale, "direction scale")
        norms = v.to(torch.float64).norm(dim=1)
        if bool(((norms - 1.0).abs() > 1e-3).any()):
            raise SafeSteerError("SafetyDirection.vectors must have unit rows; build it with estimate_direction or from_vectors.")

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_vectors(
        cls,
        vectors: object,
        categories: Sequence[str] | None = None,
        **fields: Any,
    ) -> "SafetyDirection":
        """Wrap raw (not necessarily unit) vectors ``[D]`` or ``[K, D]``; their norms become ``scale``."""
        raw = as_float_tensor(vectors, "direction vectors").detach().to("cpu", torch.float32)
        if raw.ndim == 1:
            raw = raw.unsqueeze(0)
        if raw.ndim != 2:
            raise SafeSteerError(f"direction vectors must be [D] or [K, D], got shape {tuple(raw.shape)}.")
        require_finite(raw, "direction vectors")
        names = tuple(categories) if categories is not None else ((GLOBAL,) if raw.shape[0] == 1 else tuple(f"dir{i}" for i in range(raw.shape[0])))
        return cls(vectors=unit_rows(raw).contiguous(), categories=names, scale=raw.norm(dim=1), **fields)

    # ------------------------------------------------------------------ accessors
    @property
    def dim(self) -> int:
        """Hidden size D."""
        return int(self.vectors.shape[1])

    @property
    def num_categories(self) -> int:
        return int(self.vectors.shape[0])

    @property
    def scaled_vectors(self) -> torch.Tensor:
        """``[K, D]`` vectors times their scale (the raw mean differences)."""
        return self.vectors * self.scale.unsqueeze(1)

    @property
    def prompt_pooling(self) -> tuple[str, int]:
        """``(pooling, k)`` to pool ``[N, T, D]`` token states the way this direction's prompts were.

        A direction estimated from already pooled vectors pools token states by masked mean.
        """
        pooling = self.pooling if self.pooling in TOKEN_POOLINGS else "mean"
        return pooling, int(self.info.get("pooling_k", 5))

    def index(self, category: str) -> int:
        try:
            return self.categories.index(category)
        except ValueError:
            raise SafeSteerError(f"category {category!r} not in this direction; it has {list(self.categories)}.") from None

    def select(self, categories: Sequence[str]) -> "SafetyDirection":
        """A direction holding only ``categories`` (in that order)."""
        idx = torch.tensor([self.index(c) for c in categories], dtype=torch.long)
        pick = lambda t: None if t is None else t[idx].clone()  # noqa: E731
        return replace(self, vectors=self.vectors[idx].clone(), categories=tuple(categories), scale=self.scale[idx].clone(),
                       thresholds=pick(self.thresholds), centres=pick(self.centres), gate_vectors=pick(self.gate_vectors),
                       gate_offsets=pick(self.gate_offsets), info=dict(self.info))

    def check_dim(self, dim: int, what: str = "the model") -> None:
        """Raise DimensionMismatchError unless this direction's hidden size equals ``dim``."""
        if dim != self.dim:
            raise DimensionMismatchError(
                f"the safety direction has hidden size {self.dim} (from {self.source_model or 'an unnamed model'}) "
                f"but {what} has hidden size {dim}. Transport the direction into this model's space with an "
                f"Alignment (fit_alignment(...).transport(direction)) or estimate it from this model."
            )

    def scores(self, activations: torch.Tensor) -> torch.Tensor:
        """Projections ``[..., K]`` of activations ``[..., D]`` onto the unit vectors (higher = safer).

        Computed in float32, or in float64 for float64 activations.
        """
        acts = self._working(activations)
        return acts @ self.vectors.to(acts.device, acts.dtype).T

    def gate_scores(self, activations: torch.Tensor) -> torch.Tensor:
        """Scores ``[..., K]`` compared with ``thresholds``: the read-outs if present, else projections."""
        if self.gate_vectors is None or self.gate_offsets is None:
            return self.scores(activations)
        acts = self._working(activations)
        return acts @ self.gate_vectors.to(acts.device, acts.dtype).T + self.gate_offsets.to(acts.device, acts.dtype)

    def _working(self, activations: object) -> torch.Tensor:
        """Activations as a float32-or-wider tensor whose hidden size matches this direction."""
        acts = as_float_tensor(activations, "activations")
        self.check_dim(int(acts.shape[-1]), "the activations")
        return acts.to(torch.promote_types(acts.dtype, torch.float32))

    # ------------------------------------------------------------------ files
    def save(self, path: str | os.PathLike[str], overwrite: bool = False) -> Path:
        """Write a ``.safetensors`` file; refuses to overwrite unless ``overwrite=True``."""
        tensors = {"vectors": self.vectors, "scale": self.scale}
        if self.thresholds is not None:
            tensors["thresholds"] = self.thresholds
        if self.centres is not None:
            tensors["centres"] = self.centres
        if self.gate_vectors is not None and self.gate_offsets is not None:
            tensors["gate_vectors"], tensors["gate_offsets"] = self.gate_vectors, self.gate_offsets
        meta = {
            "safesteer.dim": str(self.dim),
            "safesteer.categories": encode_json(list(self.categories)),
            "safesteer.pooling": self.pooling,
            "safesteer.layer": self.layer,
            "safesteer.source_model": self.source_model,
            "safesteer.source_fingerprint": self.source_fingerprint,
            "safesteer.info": encode_json(self.info),
            "safesteer.sign": "safe_minus_unsafe",
        }
        return write_safesteer_file(path, KIND, tensors, meta, overwrite=overwrite)

    @classmethod
    def load(cls, path: str | os.PathLike[str], expected_dim: int | None = None) -> "SafetyDirection":
        """Read a SafetyDirection file; ``expected_dim`` raises DimensionMismatchError on mismatch."""
        tensors, meta = read_safesteer_file(path, expected_kind=KIND, check=_check_header)
        categories = decode_json(meta["safesteer.categories"], "safesteer.categories", Path(path))
        vectors = tensors["vectors"]
        info = decode_json(meta.get("safesteer.info", "{}"), "safesteer.info", Path(path))
        try:
            direction = cls(
                vectors=vectors, categories=tuple(categories), scale=tensors["scale"],
                thresholds=tensors.get("thresholds"), centres=tensors.get("centres"),
                gate_vectors=tensors.get("gate_vectors"), gate_offsets=tensors.get("gate_offsets"),
                pooling=meta.get("safesteer.pooling", "mean"), layer=meta.get("safesteer.layer", ""),
                source_model=meta.get("safesteer.source_model", ""),
                source_fingerprint=meta.get("safesteer.source_fingerprint", ""), info=info,
            )
        except SafeSteerError as exc:
            raise SafeSteerFileError(f"{show_path(path)}: {str(exc).rstrip('.')}; re-create the direction.") from exc
        if expected_dim is not None:
            direction.check_dim(expected_dim)
        return direction


def _check_header(header: FileHeader) -> None:
    """Shapes and metadata types of a SafetyDirection file, from its header (no tensor read yet).

    ``vectors [K, D]``, ``scale``/``thresholds``/``centres``/``gate_offsets [K]``, ``gate_vectors [K, D]``
    with K the number of names in ``safesteer.categories`` and D ``safesteer.dim``.
    """
    dim = header.int("safesteer.dim", 1, MAX_DIM)
    categories = header.json("safesteer.categories", list)
    if not 1 <= len(categories) <= MAX_CATEGORIES or not all(isinstance(c, str) and 0 < len(c) <= 64 for c in categories):
        raise header.fail(f"metadata 'safesteer.categories' must list 1 to {MAX_CATEGORIES} names (strings of 1-64 "
                          "characters)")
    header.json("safesteer.info", dict, default={})
    for key in ("safesteer.pooling", "safesteer.layer", "safesteer.source_model", "safesteer.source_fingerprint"):
        if len(header.metadata.get(key, "")) > 1024:
            raise header.fail(f"metadata {key!r} is over 1024 characters")
    k = len(categories)
    header.expect("vectors", (k, dim))
    header.expect("scale", (k,))
    for name in ("thresholds", "centres", "gate_offsets"):
        header.expect(name, (k,), required=False)
    header.expect("gate_vectors", (k, dim), required=False)
    header.only({"vectors", "scale", "thresholds", "centres", "gate_offsets", "gate_vectors"})


# ---------------------------------------------------------------------- estimation
def _pooled(x: object, mask: object | None, pooling: str, k: int, what: str) -> torch.Tensor:
    t = as_float_tensor(x, what).detach()
    if t.ndim not in (2, 3):
        raise SafeSteerError(f"{what} must be [N, T, D] token states or [N, D] pooled vectors, got {tuple(t.shape)}.")
    if t.shape[0] == 0:
        raise SafeSteerError(f"{what} is empty; provide at least one prompt.")
    m = None if mask is None else torch.as_tensor(mask)
    require_finite(t, what)
    effective = "pooled" if t.ndim == 2 else pooling
    if t.ndim == 2 and pooling not in POOLING_CHOICES:
        raise SafeSteerError(f"unknown pooling {pooling!r}; choose one of {', '.join(POOLING_CHOICES)}.")
    return pool(t, m, effective, k).to(torch.float64)


def _raw_direction(safe: torch.Tensor, unsafe: torch.Tensor) -> tuple[torch.Tensor, float]:
    """Diff of means (float64) and the training AUROC of its projection."""
    if safe.shape[1] != unsafe.shape[1]:
        raise DimensionMismatchError(f"safe activations have hidden size {safe.shape[1]} but unsafe have {unsafe.shape[1]}.")
    diff = safe.mean(0) - unsafe.mean(0)
    if float(diff.norm()) == 0.0:
        raise SafeSteerError("safe and unsafe activations have identical means; no direction can be estimated.")
    unit = diff / diff.norm()
    return diff, auroc(safe @ unit, unsafe @ unit)


def estimate_direction(
    safe: object,
    unsafe: object,
    safe_mask: object | None = None,
    unsafe_mask: object | None = None,
    pooling: str = "mean",
    k: int = 5,
    category: str = GLOBAL,
    **fields: Any,
) -> SafetyDirection:
    """Diff-of-means safety direction, mean(safe) - mean(unsafe).

    Args:
        safe, unsafe: ``[N, T, D]`` token states (with optional ``[N, T]`` masks) or ``[N, D]``
            pooled vectors. Pairs need not be aligned; N may differ between the two.
        pooling: "mean" (masked mean), "last_k" (mean of the last ``k`` real tokens), their
            ``robust_`` variants (attention sink and massive activations left out, for decoder LLMs;
            see :mod:`steering_core.directions.pooling`) or "pooled".
        category: the name stored for this direction.
        fields: extra SafetyDirection fields (``layer``, ``source_model``, ``source_fingerprint``).

    Returns:
        A one-category SafetyDirection; ``info`` records pair counts and the training AUROC.
    """
    return estimate_category_directions({category: (safe, unsafe, safe_mask, unsafe_mask)}, pooling=pooling, k=k,
                                        include_global=False, **fields)


def estimate_category_directions(
    data: Mapping[str, tuple[Any, ...]],
    pooling: str = "mean",
    k: int = 5,
    include_global: bool = True,
    orthogonalize: str | None = None,
    **fields: Any,
) -> SafetyDirection:
    """Per-category directions stored together, optionally with a global one first.

    Args:
        data: category -> ``(safe, unsafe)`` or ``(safe, unsafe, safe_mask, unsafe_mask)``, each
            as accepted by :func:`estimate_direction`.
        include_global: add a "global" direction from all categories' prompts pooled together.
        orthogonalize: None, "lowdin" or "gram_schmidt" (see :func:`orthogonalize_categories`).
    """
    if not data:
        raise SafeSteerError("no categories given; pass a dict of category -> (safe, unsafe).")
    pooled: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    for name, entry in data.items():
        if not 2 <= len(entry) <= 4:
            raise SafeSteerError(f"category {name!r}: expected (safe, unsafe[, safe_mask, unsafe_mask]).")
        safe, unsafe, *masks = entry
        masks += [None] * (2 - len(masks))
        pooled[name] = (_pooled(safe, masks[0], pooling, k, f"{name} safe activations"),
                        _pooled(unsafe, masks[1], pooling, k, f"{name} unsafe activations"))
    dims = {p[0].shape[1] for p in pooled.values()} | {p[1].shape[1] for p in pooled.values()}
    if len(dims) != 1:
        raise DimensionMismatchError(f"categories have different hidden sizes {sorted(dims)}; use one model and layer.")
    names: list[str] = []
    raws: list[torch.Tensor] = []
    stats: dict[str, dict[str, Any]] = {}
    items = list(pooled.items())
    if include_global and GLOBAL not in pooled:
        items.insert(0, (GLOBAL, (torch.cat([p[0] for p in pooled.values()]), torch.cat([p[1] for p in pooled.values()]))))
    for name, (safe, unsafe) in items:
        raw, train_auroc = _raw_direction(safe, unsafe)
        names.append(name)
        raws.append(raw)
        stats[name] = {"n_safe": int(safe.shape[0]), "n_unsafe": int(unsafe.shape[0]), "train_auroc": train_auroc}
    raw_stack = torch.stack(raws).to(torch.float32)
    info = dict(fields.pop("info", {}))
    info.update({"estimator": "diff_of_means", "categories": stats, "pooling_k": k})
    direction = SafetyDirection.from_vectors(raw_stack, names, pooling=pooling, info=info, **fields)
    if orthogonalize is not None:
        direction = orthogonalize_categories(direction, method=orthogonalize)
    return direction


def orthogonalize_categories(
    direction: SafetyDirection,
    method: str = "lowdin",
    exclude: Sequence[str] = (GLOBAL,),
) -> SafetyDirection:
    """Make category directions mutually orthogonal (``exclude`` rows are left as they are).

    "lowdin" is symmetric orthogonalisation ``V' = (V V^T)^{-1/2} V``: the orthonormal set closest
    to the originals, independent of category order. "gram_schmidt" keeps the first category fixed
    and orthogonalises the rest in order. Each new scale is the raw mean difference projected on
    the new axis, ``scale_k * <v_k, v'_k>``. Gate thresholds, centres and read-outs are dropped
    (recalibrate).
    """
    rows = [i for i, c in enumerate(direction.categories) if c not in set(exclude)]
    if len(rows) < 2:
        return direction
    v = direction.vectors[rows].to(torch.float64)
    gram = v @ v.T
    evals, evecs = torch.linalg.eigh(gram)
    if float(evals.min()) < 1e-6:
        off_diagonal = gram - torch.eye(len(rows), dtype=torch.float64)
        i, j = divmod(int(off_diagonal.abs().argmax()), len(rows))
        raise SafeSteerError(
            f"categories {direction.categories[rows[i]]!r} and {direction.categories[rows[j]]!r} are nearly parallel "
            f"(cosine {float(gram[i, j]):.4f}); they cannot be orthogonalised. Merge them or drop one."
        )
    if method == "lowdin":
        new = evecs @ torch.diag(evals.rsqrt()) @ evecs.T @ v
    elif method == "gram_schmidt":
        q, r = torch.linalg.qr(v.T)
        new = (q * torch.sign(torch.diagonal(r))).T
    else:
        raise SafeSteerError(f"unknown orthogonalisation {method!r}; use 'lowdin' or 'gram_schmidt'.")
    new = new / new.norm(dim=1, keepdim=True)
    vectors = direction.vectors.clone()
    scale = direction.scale.clone()
    for out_row, src_row in enumerate(rows):
        cos = float(new[out_row] @ v[out_row])
        vectors[src_row] = new[out_row].to(torch.float32)
        scale[src_row] = direction.scale[src_row] * cos
    info = dict(direction.info)
    info["orthogonalized"] = {"method": method, "categories": [direction.categories[r] for r in rows]}
    return replace(direction, vectors=vectors, scale=scale, thresholds=None, centres=None, gate_vectors=None,
                   gate_offsets=None, info=info)


def calibrate_gates(
    direction: SafetyDirection,
    benign_activations: object,
    false_positive_rate: float = 0.05,
    mask: object | None = None,
) -> SafetyDirection:
    """Set each category's gate threshold and centre from **benign prompts only**.

    ``benign_activations``: ``[N, D]`` pooled vectors, or ``[N, T, D]`` states (with ``mask``)
    pooled the way the direction's prompts were (:attr:`SafetyDirection.prompt_pooling`). The
    threshold is the ``false_positive_rate`` quantile of the benign gate scores (see
    :meth:`SafetyDirection.gate_scores` and :func:`metrics.calibrate_threshold`), so at most that
    share of benign prompts opens a gate; the centre is the benign mean projection.
    """
    pooling, k = direction.prompt_pooling
    acts = _pooled(benign_activations, mask, pooling, k, "benign activations")
    direction.check_dim(int(acts.shape[1]), "the benign activations")
    gate = direction.gate_scores(acts).to(torch.float64)  # [N, K]
    thresholds = torch.tensor([calibrate_threshold(gate[:, i], false_positive_rate) for i in range(gate.shape[1])],
                              dtype=torch.float32)
    centres = direction.scores(acts).to(torch.float64).mean(0).to(torch.float32)
    info = dict(direction.info)
    info["gate_calibration"] = {
        "n_benign": int(gate.shape[0]),
        "false_positive_rate": false_positive_rate,
        "method": "in_sample",
        "benign_std": [float(x) for x in gate.std(0, unbiased=gate.shape[0] > 1)],
    }
    return replace(direction, thresholds=thresholds, centres=centres, info=info)


def direction_auroc(direction: SafetyDirection, safe: object, unsafe: object, category: str | None = None) -> float:
    """AUROC of a direction's projection: safe prompts (positives) against unsafe ones.

    ``safe``, ``unsafe``: ``[N, D]`` pooled activations in the direction's space.
    """
    s = as_float_tensor(safe, "safe activations").to(torch.float64)
    u = as_float_tensor(unsafe, "unsafe activations").to(torch.float64)
    row = 0 if category is None else direction.index(category)
    direction.check_dim(int(s.shape[-1]), "the activations")
    v = direction.vectors[row].to(torch.float64)
    return auroc(s @ v, u @ v)


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    """Cosine similarity of two vectors (float64)."""
    a64, b64 = a.reshape(-1).to(torch.float64), b.reshape(-1).to(torch.float64)
    denom = float(a64.norm() * b64.norm())
    return float(a64 @ b64) / denom if denom > 0 else math.nan
