"""Cross-model alignment: a map from source to target activations fitted on benign anchors only.

Row convention: ``source [N, Ds]`` and ``target [N, Dt]`` are paired pooled activations of the
same N benign anchor prompts in two models. Every map is centred:
``transform(x) = f(x - source_mean) + target_mean``.

Map kinds:
    ridge: closed-form ``W = argmin ||Xc W - Yc||^2 + lam ||W||^2`` (primal or dual solve).
    procrustes: orthogonal / semi-orthogonal ``W = U V^T`` (see :func:`linalg.procrustes_solve`).
    mlp: Linear-ReLU-Linear trained on MSE (see :mod:`mlp_map`).

Transport of a direction ``v_s`` (unsafe -> safe, magnitude ``|v_s|``): linear maps push
``v_s @ W``; the MLP uses the mean finite difference ``mean_i f(x_i + v_s) - f(x_i)`` over anchors.
The result is renormalised to ``beta * |v_s|`` with
``beta = median |target anchor - mean| / median |source anchor - mean|``.
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..directions.direction import SafetyDirection, calibrate_gates, cosine
from ..errors import DimensionMismatchError, SafeSteerError, printable
from ..files.format import MAX_DIM, FileHeader, decode_json, encode_json, read_safesteer_file, write_safesteer_file
from .linalg import (anchor_spectrum, principal_basis, procrustes_solve, ridge_from_spectrum, ridge_loo_errors, ridge_solve,
                     spectral_targets)
from ..directions.metrics import r_squared
from .mlp_map import MLPMap, MLPTrainConfig, default_hidden, train_mlp_map
from .transport_report import TransportReport, TransportRow
from ..validation import as_float_tensor, require_finite

KIND = "Alignment"
MAP_KINDS: tuple[str, ...] = ("ridge", "procrustes", "mlp")
#: candidates of ``kind="auto"`` (the MLP is left out: five extra trainings per choice)
AUTO_KINDS: tuple[str, ...] = ("ridge", "procrustes")
LOW_COVERAGE = 0.5
AUTO = "auto"
#: relative ridge strengths tried by ``lam="auto"`` (10^-4 ... 10^2, half-decade steps)
AUTO_LAMS: tuple[float, ...] = tuple(float(10.0 ** (e / 2)) for e in range(-8, 5))
_MLP_KEYS = ("map.fc1.weight", "map.fc1.bias", "map.fc2.weight", "map.fc2.bias")


#: agreement (see :mod:`.agreement`) below which a transport warns that its map fits badly
LOW_AGREEMENT = 0.5
AGREEMENT_FOLDS = 5


class LowCoverageWarning(UserWarning):
    """A transported direction lies mostly outside the anchors' principal subspace."""


class PoorTransferWarning(UserWarning):
    """The map reproduces the source's ordering of benign anchors along a direction badly."""


@dataclass
class Alignment:
    """A fitted source -> target map with its calibration and diagnostics.

    Attributes:
        kind: "ridge", "procrustes" or "mlp".
        source_mean, target_mean: ``[Ds]``, ``[Dt]`` anchor means used for centring.
        params: map tensors ("map.weight" ``[Ds, Dt]``; or "map.dual_basis" ``[N, Ds]`` and
            "map.dual_coef" ``[N, Dt]``; or the MLP's "map.fc1.weight" ... tensors).
        beta: magnitude calibration, median centred target norm / median centred source norm.
        source_basis: ``[r, Ds]`` orthonormal principal subspace of the source anchors (coverage).
        settings: fit settings (lambda, Procrustes scale, MLP widths and input/output scales).
        diagnostics: held-out R^2, anchor counts, basis energy.
        source_anchor_sample, target_anchor_sample: up to ``anchor_sample`` raw training anchors
            (``[m, Ds]``, ``[m, Dt]``): finite differences for the MLP, benign gate calibration.
    """

    kind: str
    source_mean: torch.Tensor
    target_mean: torch.Tensor
    params: dict[str, torch.Tensor]
    beta: float
    source_basis: torch.Tensor
    settings: dict[str, Any] = field(default_factory=dict)
    diagnostics: dict[str, Any] = field(default_factory=dict)
    source_anchor_sample: torch.Tensor | None = None
    target_anchor_sample: torch.Tensor | None = None
    source_model: str = ""
    target_model: str = ""
    source_layer: str = ""
    target_layer: str = ""
    source_fingerprint: str = ""
    target_fingerprint: str = ""
    _mlp: MLPMap | None = field(default=None, repr=False, compare=False)

    @property
    def source_dim(self) -> int:
        return int(self.source_mean.shape[0])

    @property
    def target_dim(self) -> int:
        return int(self.target_mean.shape[0])

    @property
    def held_out_r2(self) -> float | None:
        return self.diagnostics.get("held_out_r2")

    # ------------------------------------------------------------------ map application
    def _mlp_module(self) -> MLPMap:
        if self._mlp is None:
            w1, w2 = self.params["map.fc1.weight"], self.params["map.fc2.weight"]
            module = MLPMap(w1.shape[1], w2.shape[0], w1.shape[0], self.settings["in_scale"], self.settings["out_scale"])
            module.load_state_dict({k[len("map."):]: v for k, v in self.params.items() if k.startswith("map.fc")})
            module.eval()
            for p in module.parameters():
                p.requires_grad_(False)
            self._mlp = module
        return self._mlp

    def _apply_centred(self, xc: torch.Tensor) -> torch.Tensor:
        """The map's centred part ``f(xc)`` for ``xc [M, Ds]`` -> ``[M, Dt]`` (xc's dtype, >= float32)."""
        if self.kind == "mlp":
            module = self._mlp_module()
            return module(xc.to(torch.float32)).to(xc.dtype)
        if "map.weight" in self.params:
            out = xc @ self.params["map.weight"].to(xc.device, xc.dtype)
        else:
            basis = self.params["map.dual_basis"].to(xc.device, xc.dtype)
            out = (xc @ basis.T) @ self.params["map.dual_coef"].to(xc.device, xc.dtype)
        return out * float(self.settings.get("scale", 1.0))

    def transform(self, activations: object) -> torch.Tensor:
        """Map source activations ``[..., Ds]`` to target space ``[..., Dt]`` (float32 or wider)."""
        x = as_float_tensor(activations, "source activations")
        if x.shape[-1] != self.source_dim:
            raise DimensionMismatchError(
                f"activations have hidden size {x.shape[-1]} but this alignment maps from hidden size "
                f"{self.source_dim} ({self.source_model or 'source model'})."
            )
        dtype = torch.promote_types(x.dtype, torch.float32)
        lead = x.shape[:-1]
        flat = x.reshape(-1, self.source_dim).to(dtype)
        with torch.no_grad():
            out = self._apply_centred(flat - self.source_mean.to(flat.device, dtype)) + self.target_mean.to(flat.device, dtype)
        return out.reshape(*lead, self.target_dim)

    def push_vectors(self, vectors: torch.Tensor) -> torch.Tensor:
        """Uncalibrated transport of raw source vectors ``[K, Ds]`` -> ``[K, Dt]`` (float64)."""
        v = vectors.to(torch.float64)
        if self.kind != "mlp":
            return self._apply_centred(v)
        if self.source_anchor_sample is None:
            raise SafeSteerError("this MLP alignment has no anchor sample, so directions cannot be transported; refit it.")
        anchors = (self.source_anchor_sample.to(torch.float64) - self.source_mean.to(torch.float64))
        with torch.no_grad():
            base = self._apply_centred(anchors)
            shifted = self._apply_centred(anchors.unsqueeze(0) + v.unsqueeze(1))  # [K, M, Dt]
        return (shifted - base.unsqueeze(0)).mean(dim=1)

    def coverage(self, vectors: torch.Tensor) -> torch.Tensor:
        """Share ``|B v|^2 / |v|^2`` of each source vector ``[K, Ds]`` inside the anchor principal subspace."""
        v = vectors.to(torch.float64)
        inside = (v @ self.source_basis.to(torch.float64).T).pow(2).sum(1)
        return inside / v.pow(2).sum(1)

    # ------------------------------------------------------------------ transport
    def transport(
        self,
        direction: SafetyDirection | object,
        native: SafetyDirection | object | None = None,
        calibrate: bool = True,
        false_positive_rate: float = 0.05,
        agreement: bool = True,
    ) -> SafetyDirection:
        """Carry a source-space direction into the target space.

        Args:
            direction: a SafetyDirection (or ``[D]`` / ``[K, D]`` tensor) in the source space.
            native: optional target-space direction(s) estimated natively, for the cosine diagnostic.
            calibrate: set gate thresholds and centres from the stored benign target anchors
                (:func:`calibrate_gates` on the transported projection).
            false_positive_rate: benign share allowed to open a gate when calibrating.
            agreement: measure each category's score agreement (:meth:`agreement`) on the stored
                anchors; below ``LOW_AGREEMENT`` a :class:`PoorTransferWarning` says the map fits
                that direction badly.

        Returns:
            A SafetyDirection in the target space with ``scale = beta * source scale``; its
            ``info["transport"]`` holds a :class:`TransportReport` (see ``transport_report()``).
        """
        src = direction if isinstance(direction, SafetyDirection) else SafetyDirection.from_vectors(
            as_float_tensor(direction, "direction"))
        src.check_dim(self.source_dim, f"the alignment's source model ({self.source_model or 'unnamed'})")
        pushed = self.push_vectors(src.scaled_vectors)
        norms = pushed.norm(dim=1)
        cover = self.coverage(src.vectors)
        if not bool(torch.isfinite(norms).all()) or bool((norms == 0).any()):
            bad = [src.categories[i] for i in torch.nonzero(~(norms > 0)).flatten().tolist()]
            raise SafeSteerError(
                f"direction(s) {bad} vanish under this alignment: they lie outside what the anchors span. "
                "Fit the alignment on more varied anchor prompts."
            )
        low = [f"{c} ({float(cv):.2f})" for c, cv in zip(src.categories, cover) if float(cv) < LOW_COVERAGE]
        if low:
            warnings.warn(
                f"low coverage for {', '.join(low)}: most of the direction lies outside the subspace the anchors span, "
                "so its transport is unreliable. Use more, and more varied, anchor prompts.",
                LowCoverageWarning, stacklevel=2,
            )
        agree = self.agreement(src.vectors) if agreement else None
        if agree is not None:
            poor = [f"{c} ({float(a):.2f})" for c, a in zip(src.categories, agree) if float(a) < LOW_AGREEMENT]
            if poor:
                warnings.warn(
                    f"this {self.kind} map fits badly along {', '.join(poor)}: on benign anchors it never saw, the "
                    f"transported direction ranks prompts unlike the source direction (score agreement below "
                    f"{LOW_AGREEMENT}), so the transferred direction is unreliable. Use more, and more varied, anchors "
                    "or another map kind (kind='auto' picks the best).",
                    PoorTransferWarning, stacklevel=2,
                )
        unit = (pushed / norms.unsqueeze(1)).to(torch.float32)
        target_scale = (self.beta * src.scale.to(torch.float64)).to(torch.float32)
        native_dir = None
        if native is not None:
            native_dir = native if isinstance(native, SafetyDirection) else SafetyDirection.from_vectors(
                as_float_tensor(native, "native direction"))
            native_dir.check_dim(self.target_dim, "the alignment's target model")
        rows = []
        for i, cat in enumerate(src.categories):
            cos = None
            if native_dir is not None:
                if cat in native_dir.categories:
                    cos = cosine(unit[i], native_dir.vectors[native_dir.index(cat)])
                elif native_dir.num_categories == 1:
                    cos = cosine(unit[i], native_dir.vectors[0])
            rows.append(TransportRow(category=cat, coverage=float(cover[i]), source_scale=float(src.scale[i]),
                                     target_scale=float(target_scale[i]), cosine_to_native=cos,
                                     agreement=None if agree is None else float(agree[i])))
        report = TransportReport(map_kind=self.kind, held_out_r2=self.held_out_r2, beta=self.beta,
                                 basis_energy=float(self.diagnostics.get("basis_energy", float("nan"))), rows=tuple(rows))
        info = dict(src.info)
        info["transport"] = report.as_dict()
        info["transported_from"] = {"model": src.source_model, "layer": src.layer, "fingerprint": src.source_fingerprint}
        # Gates pool target prompts the way the target anchors were pooled, when the fit recorded it.
        pooling = str(self.settings.get("target_pooling", src.pooling))
        out = SafetyDirection(vectors=unit, categories=src.categories, scale=target_scale, pooling=pooling,
                              layer=self.target_layer, source_model=self.target_model,
                              source_fingerprint=self.target_fingerprint, info=info)
        # The gate scores the transported projection itself (h @ unit). Ridge read-outs of the source score, which
        # earlier versions attached, gated no better on real cross-model pairs (README, Real cross-model transfer).
        anchors = self.target_anchor_sample
        if calibrate and anchors is not None and anchors.shape[0] >= 2:
            out = calibrate_gates(out, anchors, false_positive_rate)
        return out

    def refit_kwargs(self) -> dict[str, Any]:
        """Keyword arguments that make :func:`fit_alignment` fit a map like this one (kind settings)."""
        st = self.settings
        if self.kind == "ridge":
            return {"lam": st.get("lam", 1e-2), "lam_mode": st.get("lam_mode", "relative")}
        if self.kind == "procrustes":
            return {"scaled": bool(st.get("scaled", True))}
        return {"mlp": MLPTrainConfig(hidden=st.get("hidden"), epochs=int(st.get("epochs", 500)), lr=float(st.get("lr", 1e-3)),
                                      batch_size=int(st.get("batch_size", 256)),
                                      weight_decay=float(st.get("weight_decay", 0.0)), seed=int(st.get("seed", 0)))}

    def agreement(self, source_vectors: torch.Tensor, folds: int = AGREEMENT_FOLDS) -> torch.Tensor | None:
        """Score agreement ``[K]`` (:func:`agreement.score_agreement`) of this map kind and settings on
        the stored anchor sample, for ``source_vectors [K, Ds]``; None without enough stored anchors."""
        from .agreement import score_agreement

        xs, yt = self.source_anchor_sample, self.target_anchor_sample
        if xs is None or yt is None or xs.shape[0] < 4 * folds:
            return None
        return score_agreement(xs, yt, source_vectors, self.kind, folds=folds, **self.refit_kwargs())

    # ------------------------------------------------------------------ files
    def save(self, path: str | os.PathLike[str], overwrite: bool = False) -> Path:
        """Write a ``.safetensors`` Alignment file; refuses to overwrite unless ``overwrite=True``."""
        tensors = {"source_mean": self.source_mean, "target_mean": self.target_mean, "source_basis": self.source_basis}
        tensors.update(self.params)
        if self.source_anchor_sample is not None:
            tensors["source_anchor_sample"] = self.source_anchor_sample
        if self.target_anchor_sample is not None:
            tensors["target_anchor_sample"] = self.target_anchor_sample
        meta = {
            "safesteer.map_kind": self.kind,
            "safesteer.source_dim": str(self.source_dim),
            "safesteer.target_dim": str(self.target_dim),
            "safesteer.beta": repr(float(self.beta)),
            "safesteer.settings": encode_json(self.settings),
            "safesteer.diagnostics": encode_json(self.diagnostics),
            "safesteer.source_model": self.source_model,
            "safesteer.target_model": self.target_model,
            "safesteer.source_layer": self.source_layer,
            "safesteer.target_layer": self.target_layer,
            "safesteer.source_fingerprint": self.source_fingerprint,
            "safesteer.target_fingerprint": self.target_fingerprint,
        }
        return write_safesteer_file(path, KIND, tensors, meta, overwrite=overwrite)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> "Alignment":
        """Read and validate an Alignment file."""
        tensors, meta = read_safesteer_file(path, expected_kind=KIND, check=_check_header)
        kind = meta["safesteer.map_kind"]
        settings = decode_json(meta.get("safesteer.settings", "{}"), "safesteer.settings", Path(path))
        beta = float(meta["safesteer.beta"])
        params = {k: v for k, v in tensors.items() if k.startswith("map.")}
        return cls(
            kind=kind, source_mean=tensors["source_mean"], target_mean=tensors["target_mean"], params=params, beta=beta,
            source_basis=tensors["source_basis"],
            settings=settings,
            diagnostics=decode_json(meta.get("safesteer.diagnostics", "{}"), "safesteer.diagnostics", Path(path)),
            source_anchor_sample=tensors.get("source_anchor_sample"), target_anchor_sample=tensors.get("target_anchor_sample"),
            source_model=meta.get("safesteer.source_model", ""), target_model=meta.get("safesteer.target_model", ""),
            source_layer=meta.get("safesteer.source_layer", ""), target_layer=meta.get("safesteer.target_layer", ""),
            source_fingerprint=meta.get("safesteer.source_fingerprint", ""),
            target_fingerprint=meta.get("safesteer.target_fingerprint", ""),
        )


def _check_header(header: FileHeader) -> None:
    """Shapes and metadata types of an Alignment file, from its header (no tensor read yet).

    ``source_mean [Ds]``, ``target_mean [Dt]``, ``source_basis [r, Ds]``; ridge ``map.weight [Ds, Dt]`` or
    ``map.dual_basis [n, Ds]`` + ``map.dual_coef [n, Dt]``; procrustes ``map.weight``; mlp
    ``map.fc1.weight [h, Ds]``, ``map.fc1.bias [h]``, ``map.fc2.weight [Dt, h]``, ``map.fc2.bias [Dt]``.
    """
    kind = header.metadata.get("safesteer.map_kind")
    if kind not in MAP_KINDS:
        raise header.fail(f"unknown map kind {printable(kind, 40)!r}", f"this install reads {', '.join(MAP_KINDS)}.")
    ds, dt = header.int("safesteer.source_dim", 1, MAX_DIM), header.int("safesteer.target_dim", 1, MAX_DIM)
    beta = header.metadata.get("safesteer.beta", "")
    try:
        beta_ok = len(beta) <= 40 and math.isfinite(float(beta))
    except ValueError:
        beta_ok = False
    if not beta_ok:
        raise header.fail(f"metadata 'safesteer.beta' must be a finite number, got {printable(beta, 40)!r}")
    settings = header.json("safesteer.settings", dict, default={})
    header.json("safesteer.diagnostics", dict, default={})
    header.expect("source_mean", (ds,))
    header.expect("target_mean", (dt,))
    header.expect("source_basis", (min(header.shape("source_basis", 2)[0], ds), ds))
    if kind == "procrustes" or "map.weight" in header.tensors:
        header.expect("map.weight", (ds, dt))
    elif kind == "ridge":
        n_dual = header.shape("map.dual_basis", 2)[0]
        header.expect("map.dual_basis", (n_dual, ds))
        header.expect("map.dual_coef", (n_dual, dt))
    if kind == "mlp":
        missing = [k for k in ("in_scale", "out_scale") if not isinstance(settings.get(k), (int, float))]
        if missing:
            raise header.fail(f"this MLP alignment's settings lack {', '.join(missing)}")
        hidden = header.shape("map.fc1.weight", 2)[0]
        for name, shape in (("map.fc1.weight", (hidden, ds)), ("map.fc1.bias", (hidden,)),
                            ("map.fc2.weight", (dt, hidden)), ("map.fc2.bias", (dt,))):
            header.expect(name, shape)
        header.shape("source_anchor_sample", 2)
    for name, dim in (("source_anchor_sample", ds), ("target_anchor_sample", dt)):
        if name in header.tensors:
            header.expect(name, (header.shape(name, 2)[0], dim))


def transport_report(direction: SafetyDirection) -> TransportReport | None:
    """The TransportReport attached to a transported direction, or None."""
    data = direction.info.get("transport")
    return None if data is None else TransportReport.from_dict(data)


def _median_norm(x: torch.Tensor) -> float:
    return float(x.norm(dim=1).median())


def _auto_ridge(xc: torch.Tensor, yc: torch.Tensor, lam_mode: str, max_rank: int,
                seed: int) -> tuple[Any, Any, dict[str, Any]]:
    """Ridge with the strength chosen by closed-form leave-one-out error over ``AUTO_LAMS``.

    One spectral factorisation of the centred anchors serves every candidate, the final map and
    (returned) the coverage basis. Returns ``(solution, spectrum, settings)``.
    """
    if xc.shape[0] < 3:
        raise SafeSteerError("lam='auto' needs at least 3 training anchors for leave-one-out; add anchor prompts.")
    unit = float(torch.linalg.vector_norm(xc)) ** 2 / xc.shape[1] if lam_mode == "relative" else 1.0
    spectrum = anchor_spectrum(xc, max_rank=max_rank, seed=seed)
    rel = torch.tensor(AUTO_LAMS, dtype=torch.float64)
    z = spectral_targets(spectrum, yc)  # shared by the LOO curve and the final map
    errors = ridge_loo_errors(spectrum, yc, rel * unit, z=z)
    best = int(torch.argmin(errors))
    total = float((yc.to(torch.float64) ** 2).sum())
    lam_abs = float(rel[best]) * unit
    dual = xc.shape[0] < xc.shape[1]
    solution = ridge_from_spectrum(spectrum, xc, yc, lam_abs, dual=dual, z=z)
    settings = {
        "lam": AUTO, "lam_selected": float(rel[best]), "lam_absolute": lam_abs,
        "loo_r2": 1.0 - float(errors[best]) / total if total > 0 else None,
        "loo_curve": [[float(l), 1.0 - float(e) / total if total > 0 else None] for l, e in zip(rel, errors)],
        "lam_at_grid_edge": best in (0, len(AUTO_LAMS) - 1),
        "spectrum_rank": spectrum.rank, "spectrum_exact": spectrum.exact,
    }
    return solution, spectrum, settings


def _fit_auto_kind(source: object, target: object, directions: object | None, **kwargs: Any) -> "Alignment":
    """``kind="auto"``: score every kind of ``AUTO_KINDS`` by mean agreement along ``directions``; fit the best."""
    from .agreement import score_agreement

    x = as_float_tensor(source, "source anchor activations").detach().to(torch.float32)
    y = as_float_tensor(target, "target anchor activations").detach().to(torch.float32)
    if directions is None:
        basis, _, _ = principal_basis(x - x.mean(0), energy=1.0, max_rank=8)
        v = basis
    else:
        v = as_float_tensor(directions, "directions").reshape(-1, x.shape[-1])
    fit_keys = {"ridge": ("lam", "lam_mode"), "procrustes": ("scaled",)}
    scores = {}
    for kind in AUTO_KINDS:
        extra = {k: kwargs[k] for k in fit_keys[kind]}
        scores[kind] = float(score_agreement(x, y, v, kind, seed=kwargs["seed"], **extra).mean())
    best = max(scores, key=lambda k: scores[k])
    alignment = fit_alignment(source, target, best, **kwargs)
    alignment.diagnostics["kind_selection"] = {"criterion": "mean score agreement", "agreement": scores, "chosen": best,
                                               "directions": "given" if directions is not None else "top-8 principal"}
    return alignment


def anchor_holdout_split(n: int, holdout: float = 0.1, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``(held_out, train)`` anchor indices of :func:`fit_alignment` with the same ``holdout`` and ``seed``.

    ``round(holdout * n)`` anchors (none when that is 1) are held out to measure the map's R^2; the
    map, its stored anchor sample and every gate calibrated from it see only the training ones, so the
    held-out ones are benign prompts a caller can measure false positives on.
    """
    n_hold = int(round(holdout * n)) if holdout > 0 else 0
    if n_hold == 1:
        n_hold = 0
    if n - n_hold < 3:
        raise SafeSteerError(f"need at least 3 training anchors, got {n - n_hold} (N={n}, holdout={holdout}); add anchor prompts.")
    perm = torch.randperm(n, generator=torch.Generator(device="cpu").manual_seed(seed))
    return perm[:n_hold], perm[n_hold:]


def fit_alignment(
    source: object,
    target: object,
    kind: str = "ridge",
    *,
    lam: float | str = AUTO,
    lam_mode: str = "relative",
    scaled: bool = True,
    mlp: MLPTrainConfig | None = None,
    holdout: float = 0.1,
    seed: int = 0,
    coverage_energy: float = 0.99,
    coverage_rank: int = 512,
    anchor_sample: int = 1024,
    source_model: str = "",
    target_model: str = "",
    source_layer: str = "",
    target_layer: str = "",
    source_fingerprint: str = "",
    target_fingerprint: str = "",
    directions: object | None = None,
) -> Alignment:
    """Fit a source -> target map on paired **benign anchor** activations.

    Args:
        source, target: ``[N, Ds]`` and ``[N, Dt]`` pooled activations of the same N anchor prompts.
        kind: "ridge", "procrustes", "mlp", or "auto": the kind of ``AUTO_KINDS`` with the highest
            mean score agreement (:func:`agreement.score_agreement`, cross-fitted on the anchors) along
            ``directions`` (``[K, Ds]``; default the source anchors' top 8 principal directions);
            the candidates' agreements are in ``diagnostics["kind_selection"]``.
        lam: ridge penalty, or ``"auto"`` (default): the strength with the smallest closed-form
            leave-one-out error on the training anchors among ``AUTO_LAMS`` (relative), all
            read off one spectral factorisation of the anchors (:func:`linalg.anchor_spectrum`,
            reused for the coverage basis); the curve and the choice are in ``settings``. With
            ``lam_mode="relative"`` (default) the penalty is ``lam * trace(Xc^T Xc) / Ds`` (so the
            map does not depend on the activation scale); ``"absolute"`` uses ``lam`` as is.
        scaled: Procrustes only; add the optimal isotropic scale.
        mlp: MLP training settings (:class:`MLPTrainConfig`).
        holdout: share of anchors held out to measure R^2 (the map is fitted on the rest).
        coverage_energy, coverage_rank: principal subspace used for the coverage diagnostic.
        anchor_sample: how many training anchors to keep for finite differences and gate calibration.
    """
    if kind == AUTO:
        return _fit_auto_kind(source, target, directions, lam=lam, lam_mode=lam_mode, scaled=scaled, mlp=mlp,
                              holdout=holdout, seed=seed, coverage_energy=coverage_energy, coverage_rank=coverage_rank,
                              anchor_sample=anchor_sample, source_model=source_model, target_model=target_model,
                              source_layer=source_layer, target_layer=target_layer,
                              source_fingerprint=source_fingerprint, target_fingerprint=target_fingerprint)
    if kind not in MAP_KINDS:
        raise SafeSteerError(f"unknown alignment kind {kind!r}; choose 'auto' or one of {', '.join(MAP_KINDS)}.")
    if lam_mode not in ("relative", "absolute"):
        raise SafeSteerError(f"lam_mode must be 'relative' or 'absolute', got {lam_mode!r}.")
    x = as_float_tensor(source, "source anchor activations").detach()
    y = as_float_tensor(target, "target anchor activations").detach()
    if x.ndim != 2 or y.ndim != 2:
        raise SafeSteerError(
            f"anchor activations must be pooled [N, D] matrices, got source {tuple(x.shape)} and target {tuple(y.shape)}; "
            "pool token states first (steering_core.pool)."
        )
    if x.shape[0] != y.shape[0]:
        raise SafeSteerError(
            f"source has {x.shape[0]} anchors but target has {y.shape[0]}; both must encode the same anchor prompts in the same order."
        )
    require_finite(x, "source anchor activations")
    require_finite(y, "target anchor activations")
    dtype = torch.promote_types(torch.promote_types(x.dtype, y.dtype), torch.float32)
    x, y = x.to(dtype), y.to(y.device).to(dtype)
    n = x.shape[0]
    hold_idx, train_idx = anchor_holdout_split(n, holdout, seed)
    n_hold = int(hold_idx.shape[0])
    hold_idx, train_idx = hold_idx.to(x.device), train_idx.to(x.device)
    x_tr, y_tr = x[train_idx], y[train_idx]
    source_mean, target_mean = x_tr.mean(0), y_tr.mean(0)
    xc, yc = x_tr - source_mean, y_tr - target_mean

    settings: dict[str, Any] = {}
    params: dict[str, torch.Tensor] = {}
    gram = None
    gram_is_dual = False
    extra: dict[str, Any] = {}
    spectrum = None
    if kind == "ridge" and lam == AUTO:
        solution, spectrum, auto = _auto_ridge(xc, yc, lam_mode, coverage_rank, seed)
        gram_is_dual = solution.weight is None
        settings.update(auto)
        lam_abs = auto["lam_absolute"]
    elif kind == "ridge":
        if not isinstance(lam, (int, float)):
            raise SafeSteerError(f"ridge lam must be a number >= 0 or 'auto', got {lam!r}.")
        lam_abs = lam * float(torch.linalg.vector_norm(xc)) ** 2 / xc.shape[1] if lam_mode == "relative" else lam
        solution = ridge_solve(xc, yc, lam_abs)
        gram, gram_is_dual = solution.gram, solution.weight is None
        settings.update({"lam": lam})
    if kind == "ridge":
        if solution.weight is not None:
            params["map.weight"] = solution.weight
        elif solution.dual_basis is not None and solution.dual_coef is not None:
            params["map.dual_basis"], params["map.dual_coef"] = solution.dual_basis, solution.dual_coef
        settings.update({"lam_mode": lam_mode, "lam_absolute": lam_abs,
                         "solve": "dual" if gram_is_dual else "primal"})
    elif kind == "procrustes":
        weight, scale = procrustes_solve(xc, yc, scaled=scaled)
        params["map.weight"] = weight
        settings.update({"scaled": scaled, "scale": scale})
    else:
        cfg = mlp or MLPTrainConfig(seed=seed)
        module, extra = train_mlp_map(xc.to(torch.float32), yc.to(torch.float32), cfg)
        params.update({f"map.{k}": v.detach().clone() for k, v in module.state_dict().items()})
        settings.update({"hidden": cfg.hidden or default_hidden(x.shape[1], y.shape[1]), "in_scale": module.in_scale,
                         "out_scale": module.out_scale, "epochs": cfg.epochs, "lr": cfg.lr, "batch_size": cfg.batch_size,
                         "weight_decay": cfg.weight_decay, "seed": cfg.seed})

    basis, energy, _ = principal_basis(xc, gram=gram, gram_is_dual=gram_is_dual, energy=coverage_energy,
                                       max_rank=coverage_rank, seed=seed, spectrum=spectrum)
    src_norm, tgt_norm = _median_norm(xc), _median_norm(yc)
    if src_norm == 0.0:
        raise SafeSteerError("source anchors are all identical; use varied anchor prompts.")
    m = min(anchor_sample, x_tr.shape[0])
    alignment = Alignment(
        kind=kind, source_mean=source_mean.to(torch.float32), target_mean=target_mean.to(torch.float32),
        params={k: v.to(torch.float32).contiguous() for k, v in params.items()}, beta=tgt_norm / src_norm,
        source_basis=basis, settings=settings,
        diagnostics={"n_anchors": n, "n_train": int(x_tr.shape[0]), "n_holdout": n_hold, "basis_energy": energy,
                     "basis_rank": int(basis.shape[0]), "source_median_norm": src_norm, "target_median_norm": tgt_norm,
                     "held_out_r2": None, **extra},
        source_anchor_sample=x_tr[:m].to(torch.float32).clone(), target_anchor_sample=y_tr[:m].to(torch.float32).clone(),
        source_model=source_model, target_model=target_model, source_layer=source_layer, target_layer=target_layer,
        source_fingerprint=source_fingerprint, target_fingerprint=target_fingerprint,
    )
    if n_hold:
        alignment.diagnostics["held_out_r2"] = r_squared(y[hold_idx], alignment.transform(x[hold_idx]), target_mean)
    return alignment
