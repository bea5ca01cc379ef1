"""A Safety SAE file: one sparse autoencoder (plus its harmful features) per intervention site.

Kind ``SafetySAE``. Tensors ``site{i}.{W_enc,b_enc,W_dec,b_dec,b_in,threshold}`` and, once features
are chosen, ``site{i}.features.{harmful,harmful_effect,fast_threshold,safe,safe_profile}``;
metadata ``safesteer.sites`` is a JSON list (one entry per site: its key such as ``"double:3"``,
the token stream it reads, the SAE config, the feature stats, and free-form info such as the
decoder adaptation record), ``safesteer.model`` a JSON object describing the model it was made on.

SAELens folders (``cfg.json`` + ``sae_weights.safetensors``) import with :func:`import_saelens`.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import torch
from safetensors import safe_open

from ..errors import SafeSteerError, SafeSteerFileError, printable, show_path
from ..files.format import (INT_DTYPES, MAX_DIM, MAX_SAE_LATENTS, FileHeader, decode_json, encode_json, read_header,
                         read_safesteer_file, write_safesteer_file)
from .autoencoder import ACTIVATIONS, SafetyFeatures, SparseAutoencoder

KIND = "SafetySAE"
STREAMS: tuple[str, ...] = ("img", "txt", "all")
_SAE_TENSORS = ("W_enc", "b_enc", "W_dec", "b_dec", "b_in", "threshold")
_FEATURE_TENSORS = ("harmful", "harmful_effect", "fast_threshold", "safe", "safe_profile")


@dataclass
class SiteSAE:
    """The SAE at one site.

    Attributes:
        site: the site key, e.g. ``"double:3"`` or ``"single:10"`` (steering_core.steering.sites grammar) or
            any module name when used outside ComfyUI.
        stream: token stream the SAE reads: ``"img"``, ``"txt"`` or ``"all"``.
        sae: the autoencoder.
        features: harmful/safe latents, or None until chosen.
        info: JSON-able notes (training summary, decoder adaptation record, ...).
    """

    site: str
    stream: str
    sae: SparseAutoencoder
    features: SafetyFeatures | None = None
    info: dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.stream not in STREAMS:
            raise SafeSteerError(f"unknown SAE stream {self.stream!r}; choose one of {', '.join(STREAMS)}.")
        if self.features is not None:
            self.features.check_against(self.sae)


@dataclass
class SafetySAE:
    """SAEs at several sites of one model, saved and loaded as one file."""

    sites: list[SiteSAE]
    model: dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        keys = [s.site for s in self.sites]
        if not keys:
            raise SafeSteerError("a Safety SAE needs at least one site.")
        if len(set(keys)) != len(keys):
            raise SafeSteerError(f"site keys must be unique, got {keys}.")

    def __iter__(self) -> Iterator[SiteSAE]:
        return iter(self.sites)

    def __len__(self) -> int:
        return len(self.sites)

    @property
    def site_keys(self) -> list[str]:
        return [s.site for s in self.sites]

    def get(self, site: str) -> SiteSAE:
        for entry in self.sites:
            if entry.site == site:
                return entry
        raise SafeSteerError(f"this Safety SAE has no SAE at site {site!r}; it has {', '.join(self.site_keys)}.")

    def select(self, keys: list[str]) -> "SafetySAE":
        return SafetySAE([self.get(k) for k in keys], dict(self.model))

    def describe(self) -> str:
        """A short multi-line summary for a node's text output."""
        lines = [f"Safety SAE: {len(self.sites)} site(s)" + (f" on {self.model.get('class')}" if self.model else "")]
        for s in self.sites:
            cfg = s.sae
            line = f"  {s.site} [{s.stream}]: D={cfg.d_in}, M={cfg.d_sae} ({cfg.d_sae / cfg.d_in:g}x), {cfg.activation}"
            if cfg.activation == "topk":
                line += f" k={cfg.k}"
            if s.features is not None:
                line += f", {s.features.harmful.numel()} harmful / {s.features.safe.numel()} safe latents"
                agree = s.features.stats.get("fast_agreement")
                if isinstance(agree, (int, float)):
                    line += f", fast path agrees on {100 * agree:.1f}% of tokens"
            else:
                line += ", no harmful features chosen yet"
            if "adapted" in s.info:
                line += ", decoder adapted"
            lines.append(line)
        return "\n".join(lines)

    # ------------------------------------------------------------------ files
    def save(self, path: str | os.PathLike[str], overwrite: bool = False) -> Path:
        tensors: dict[str, torch.Tensor] = {}
        entries = []
        for i, s in enumerate(self.sites):
            for name, t in s.sae.state_tensors().items():
                tensors[f"site{i}.{name}"] = t.to(torch.float32)
            entry: dict[str, object] = {"site": s.site, "stream": s.stream, "config": s.sae.config(), "info": s.info}
            if s.features is not None:
                for name, t in s.features.tensors().items():
                    tensors[f"site{i}.features.{name}"] = t
                entry["features"] = {"harm_scale": s.features.harm_scale, "stats": s.features.stats}
            entries.append(entry)
        meta = {"safesteer.sites": encode_json(entries), "safesteer.model": encode_json(self.model)}
        return write_safesteer_file(path, KIND, tensors, meta, overwrite=overwrite)

    @classmethod
    def load(cls, path: str | os.PathLike[str], expected_d_in: int | None = None) -> "SafetySAE":
        """Load a Safety SAE file; ``expected_d_in`` checks every site's activation size."""
        tensors, metadata = read_safesteer_file(path, expected_kind=KIND, check=_check_header)
        entries = decode_json(metadata["safesteer.sites"], "safesteer.sites", Path(path))
        model = decode_json(metadata.get("safesteer.model", "{}"), "safesteer.model", Path(path))
        sites = []
        for i, entry in enumerate(entries):
            try:
                sae_t = {n: tensors[f"site{i}.{n}"] for n in _SAE_TENSORS if f"site{i}.{n}" in tensors}
                sae = SparseAutoencoder.from_tensors(sae_t, entry["config"])
                features = None
                if "features" in entry:
                    ft = {n: tensors[f"site{i}.features.{n}"] for n in _FEATURE_TENSORS}
                    features = SafetyFeatures(**ft, harm_scale=float(entry["features"]["harm_scale"]),
                                              stats=dict(entry["features"].get("stats", {})))
                sites.append(SiteSAE(str(entry["site"]), str(entry["stream"]), sae, features, dict(entry.get("info", {}))))
            except (KeyError, TypeError) as exc:
                raise SafeSteerFileError(f"{show_path(path)}: site {i} is incomplete ({printable(exc, 80)} missing); "
                                         "the file is damaged, train or import the SAE again.") from exc
            except SafeSteerError as exc:
                raise SafeSteerFileError(f"{show_path(path)}: site {i}: {str(exc).rstrip('.')}; train or import the SAE "
                                         "again.") from exc
            if expected_d_in is not None and sae.d_in != expected_d_in:
                raise SafeSteerFileError(
                    f"{show_path(path)}: the SAE at {entry['site']} reads activations of size {sae.d_in}, but the model's are "
                    f"{expected_d_in}; this SAE was trained on another model.")
        return cls(sites, dict(model) if isinstance(model, dict) else {})


def check_sae_config(config: object, where: str) -> tuple[int, int]:
    """``(d_in, d_sae)`` of an SAE config dict whose sizes and types are valid (before any allocation).

    Raises SafeSteerError naming ``where`` unless ``d_in`` / ``d_sae`` are ints in range, ``k`` an int
    in ``[1, d_sae]`` for TopK, ``activation`` a known one and ``input_scale`` a finite number.
    """
    if not isinstance(config, dict):
        raise SafeSteerError(f"{where}: the SAE config must be a JSON object, got {type(config).__name__}.")
    d_in, d_sae, k = config.get("d_in"), config.get("d_sae"), config.get("k", 1)
    ints = all(isinstance(v, int) and not isinstance(v, bool) for v in (d_in, d_sae, k))
    if not ints or not (1 <= d_in <= MAX_DIM and 1 <= d_sae <= MAX_SAE_LATENTS):  # type: ignore[operator]
        raise SafeSteerError(f"{where}: SAE sizes d_in={printable(d_in, 20)}, d_sae={printable(d_sae, 20)} must be "
                             f"integers in [1, {MAX_DIM}] and [1, {MAX_SAE_LATENTS}].")
    activation = config.get("activation", "topk")
    if activation not in ACTIVATIONS:
        raise SafeSteerError(f"{where}: unknown SAE activation {printable(activation, 20)!r}; "
                             f"choose one of {', '.join(ACTIVATIONS)}.")
    if activation == "topk" and not 1 <= k <= d_sae:  # type: ignore[operator]
        raise SafeSteerError(f"{where}: a TopK SAE needs 1 <= k <= d_sae ({d_sae}), got k={k}.")
    scale = config.get("input_scale", 1.0)
    if not isinstance(scale, (int, float)) or isinstance(scale, bool) or not math.isfinite(scale):
        raise SafeSteerError(f"{where}: input_scale must be a finite number, got {printable(scale, 20)!r}.")
    return d_in, d_sae  # type: ignore[return-value]


def _check_header(header: FileHeader) -> None:
    """Site entries and tensor shapes of a SafetySAE file, from its header (no tensor read yet).

    Per site i: ``W_enc [D, M]``, ``W_dec [M, D]``, ``b_enc``/``threshold [M]``, ``b_dec``/``b_in [D]`` with D,
    M from the entry's config; feature tensors ``harmful``/``harmful_effect``/``fast_threshold [h]``,
    ``safe``/``safe_profile [s]``.
    """
    entries = header.json("safesteer.sites", list)
    header.json("safesteer.model", dict, default={})
    if not 1 <= len(entries) <= 4096:
        raise header.fail("metadata 'safesteer.sites' must list 1 to 4096 sites")
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("site"), str) or entry.get("stream") not in STREAMS:
            raise header.fail(f"site {i} of 'safesteer.sites' must be an object with a 'site' string and a 'stream' "
                              f"in {', '.join(STREAMS)}")
        try:
            d_in, d_sae = check_sae_config(entry.get("config"), f"site {i}")
        except SafeSteerError as exc:
            raise header.fail(str(exc).rstrip("."), "train or import the SAE again.") from None
        if not isinstance(entry.get("info", {}), dict):
            raise header.fail(f"site {i}: 'info' must be a JSON object")
        for name, shape in (("W_enc", (d_in, d_sae)), ("W_dec", (d_sae, d_in)), ("b_enc", (d_sae,)),
                            ("b_dec", (d_in,)), ("b_in", (d_in,)), ("threshold", (d_sae,))):
            header.expect(f"site{i}.{name}", shape, required=name not in ("b_in", "threshold"))
        if "features" in entry:
            feats = entry["features"]
            scale = feats.get("harm_scale") if isinstance(feats, dict) else None
            if not isinstance(scale, (int, float)) or isinstance(scale, bool) or not isinstance(feats.get("stats", {}), dict):
                raise header.fail(f"site {i}: 'features' must hold a numeric 'harm_scale' and a 'stats' object")
            h = header.shape(f"site{i}.features.harmful", 1, INT_DTYPES)[0]
            s = header.shape(f"site{i}.features.safe", 1, INT_DTYPES)[0]
            for name, n in (("harmful_effect", h), ("fast_threshold", h), ("safe_profile", s)):
                header.expect(f"site{i}.features.{name}", (n,))
    header.only({f"site{i}.{name}" for i in range(len(entries)) for name in _SAE_TENSORS}
                | {f"site{i}.features.{name}" for i in range(len(entries)) for name in _FEATURE_TENSORS})


def import_saelens(folder: str | os.PathLike[str], site: str | None = None, stream: str = "img") -> SiteSAE:
    """Import a SAELens SAE folder (``cfg.json`` + ``sae_weights.safetensors``) as a :class:`SiteSAE`.

    Supports the ``standard`` (ReLU), ``jumprelu`` and ``topk`` architectures, in both the v6 config
    (``architecture`` + ``k``) and the older one (``activation_fn_str`` + ``activation_fn_kwargs``).
    ``apply_b_dec_to_input`` maps to a tied input bias; ``normalize_activations`` other than
    ``"none"`` is refused because its scale was not saved with the weights.
    """
    root = Path(folder)
    cfg_path, weights_path = root / "cfg.json", root / "sae_weights.safetensors"
    for p in (cfg_path, weights_path):
        if not p.is_file():
            raise SafeSteerFileError(f"{show_path(root)} is not a SAELens SAE folder: {p.name} is missing "
                                     "(expected cfg.json and sae_weights.safetensors).")
    if cfg_path.stat().st_size > 1 << 20:
        raise SafeSteerFileError(f"{show_path(cfg_path)} is over 1 MiB; a SAELens cfg.json is a few hundred bytes.")
    try:
        cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise SafeSteerFileError(f"{show_path(cfg_path)} is not valid JSON ({printable(exc, 120)}); export the SAE "
                                 "again with SAELens.") from exc
    if not isinstance(cfg, dict):
        raise SafeSteerFileError(f"{show_path(cfg_path)} must hold a JSON object, got {type(cfg).__name__}.")
    arch = str(cfg.get("architecture") or "standard")
    kwargs = cfg.get("activation_fn_kwargs") or {}
    act_fn = str(cfg.get("activation_fn_str") or cfg.get("activation_fn") or "")
    k = cfg.get("k") or (kwargs.get("k") if isinstance(kwargs, dict) else None)
    if arch == "topk" or act_fn == "topk":
        activation = "topk"
    elif arch == "jumprelu":
        activation = "jumprelu"
    elif arch == "standard" and act_fn in ("", "relu"):
        activation = "relu"
    else:
        raise SafeSteerFileError(f"{show_path(cfg_path)}: SAELens architecture {printable(arch, 40)!r} (activation "
                                 f"{printable(act_fn or 'default', 40)!r}) is not supported; SafeSteer imports "
                                 "standard, jumprelu and topk SAEs.")
    norm = str(cfg.get("normalize_activations") or "none")
    if norm != "none":
        raise SafeSteerFileError(f"{show_path(cfg_path)}: normalize_activations={printable(norm, 40)!r} needs a scale "
                                 "SAELens does not save with the weights; fold it into the weights or export with "
                                 "normalize_activations='none'.")
    if activation == "topk" and not k:
        raise SafeSteerFileError(f"{show_path(cfg_path)}: a topk SAE needs 'k' in its config.")
    header = read_header(weights_path)
    w_enc = header.shape("W_enc", 2)
    config = {"d_in": cfg.get("d_in", w_enc[0]), "d_sae": cfg.get("d_sae", w_enc[1]),
              "k": k if activation == "topk" else 1, "activation": activation, "input_scale": 1.0,
              "tied_input_bias": bool(cfg.get("apply_b_dec_to_input", activation != "jumprelu"))}
    try:
        d_in, d_sae = check_sae_config(config, printable(cfg_path))
    except SafeSteerError as exc:
        raise SafeSteerFileError(f"{exc} Export the SAE again with SAELens.") from None
    for name, shape in (("W_enc", (d_in, d_sae)), ("W_dec", (d_sae, d_in)), ("b_enc", (d_sae,)), ("b_dec", (d_in,))):
        header.expect(name, shape)
    header.expect("threshold", (d_sae,), required=activation == "jumprelu")
    tensors: dict[str, torch.Tensor] = {}
    try:
        with safe_open(str(weights_path), framework="pt", device="cpu") as fh:
            for name in ("W_enc", "b_enc", "W_dec", "b_dec", "threshold"):
                if name in header.tensors:
                    tensors[name] = fh.get_tensor(name)
    except Exception as exc:  # noqa: BLE001 - safetensors raises its own types
        raise SafeSteerFileError(f"{show_path(weights_path)} could not be read as safetensors "
                                 f"({printable(exc, 160)}); export it again.") from exc
    try:
        sae = SparseAutoencoder.from_tensors(tensors, config)
    except SafeSteerError as exc:
        raise SafeSteerFileError(f"{show_path(root)}: {exc}") from exc
    info = {"imported_from": "SAELens", "hook_name": cfg.get("hook_name"), "model_name": cfg.get("model_name")}
    return SiteSAE(site or str(cfg.get("hook_name") or "site"), stream, sae, None, info)
