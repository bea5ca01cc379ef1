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
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import torch
from safetensors import safe_open

from .errors import SafeSteerError, SafeSteerFileError
from .fileformat import decode_json, encode_json, read_safesteer_file, write_safesteer_file
from .sae import SafetyFeatures, SparseAutoencoder

KIND = "SafetySAE"
STREAMS: tuple[str, ...] = ("img", "txt", "all")
_SAE_TENSORS = ("W_enc", "b_enc", "W_dec", "b_dec", "b_in", "threshold")
_FEATURE_TENSORS = ("harmful", "harmful_effect", "fast_threshold", "safe", "safe_profile")


@dataclass
class SiteSAE:
    """The SAE at one site.

    Attributes:
        site: the site key, e.g. ``"double:3"`` or ``"single:10"`` (steering_core.sites grammar) or
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
        tensors, metadata = read_safesteer_file(path, expected_kind=KIND)
        if "safesteer.sites" not in metadata:
            raise SafeSteerFileError(f"{path}: this SafetySAE file has no 'safesteer.sites' metadata; it is damaged.")
        entries = decode_json(metadata["safesteer.sites"], "safesteer.sites", Path(path))
        model = decode_json(metadata.get("safesteer.model", "{}"), "safesteer.model", Path(path))
        if not isinstance(entries, list) or not entries:
            raise SafeSteerFileError(f"{path}: 'safesteer.sites' must be a non-empty list.")
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
                raise SafeSteerFileError(f"{path}: site {i} is incomplete ({exc!r} missing); the file is damaged.") from exc
            except SafeSteerError as exc:
                raise SafeSteerFileError(f"{path}: site {i}: {exc}") from exc
            if expected_d_in is not None and sae.d_in != expected_d_in:
                raise SafeSteerFileError(
                    f"{path}: the SAE at {entry['site']} reads activations of size {sae.d_in}, but the model's are "
                    f"{expected_d_in}; this SAE was trained on another model.")
        return cls(sites, dict(model) if isinstance(model, dict) else {})


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
            raise SafeSteerFileError(f"{root} is not a SAELens SAE folder: {p.name} is missing "
                                     "(expected cfg.json and sae_weights.safetensors).")
    try:
        cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SafeSteerFileError(f"{cfg_path} is not valid JSON ({exc}).") from exc
    arch = str(cfg.get("architecture") or "standard")
    act_fn = str(cfg.get("activation_fn_str") or cfg.get("activation_fn") or "")
    k = cfg.get("k") or (cfg.get("activation_fn_kwargs") or {}).get("k")
    if arch == "topk" or act_fn == "topk":
        activation = "topk"
    elif arch == "jumprelu":
        activation = "jumprelu"
    elif arch == "standard" and act_fn in ("", "relu"):
        activation = "relu"
    else:
        raise SafeSteerFileError(f"{cfg_path}: SAELens architecture {arch!r} (activation {act_fn or 'default'!r}) is not "
                                 "supported; SafeSteer imports standard, jumprelu and topk SAEs.")
    norm = str(cfg.get("normalize_activations") or "none")
    if norm != "none":
        raise SafeSteerFileError(f"{cfg_path}: normalize_activations={norm!r} needs a scale SAELens does not save with "
                                 "the weights; fold it into the weights or export with normalize_activations='none'.")
    tensors: dict[str, torch.Tensor] = {}
    try:
        with safe_open(str(weights_path), framework="pt", device="cpu") as fh:
            for name in fh.keys():
                tensors[name] = fh.get_tensor(name)
    except Exception as exc:  # noqa: BLE001 - safetensors raises its own types
        raise SafeSteerFileError(f"{weights_path} could not be read as safetensors: {exc}") from exc
    missing = [n for n in ("W_enc", "b_enc", "W_dec", "b_dec") if n not in tensors]
    if activation == "jumprelu" and "threshold" not in tensors:
        missing.append("threshold")
    if missing:
        raise SafeSteerFileError(f"{weights_path} lacks {', '.join(missing)}.")
    d_in, d_sae = int(cfg.get("d_in", tensors["W_enc"].shape[0])), int(cfg.get("d_sae", tensors["W_enc"].shape[1]))
    tied = bool(cfg.get("apply_b_dec_to_input", activation != "jumprelu"))
    config = {"d_in": d_in, "d_sae": d_sae, "k": int(k) if activation == "topk" else 1, "activation": activation,
              "input_scale": 1.0, "tied_input_bias": tied}
    if activation == "topk" and not k:
        raise SafeSteerFileError(f"{cfg_path}: a topk SAE needs 'k' in its config.")
    state = {n: tensors[n] for n in ("W_enc", "b_enc", "W_dec", "b_dec")}
    if "threshold" in tensors:
        state["threshold"] = tensors["threshold"]
    try:
        sae = SparseAutoencoder.from_tensors(state, config)
    except SafeSteerError as exc:
        raise SafeSteerFileError(f"{root}: {exc}") from exc
    info = {"imported_from": "SAELens", "hook_name": cfg.get("hook_name"), "model_name": cfg.get("model_name")}
    return SiteSAE(site or str(cfg.get("hook_name") or "site"), stream, sae, None, info)
