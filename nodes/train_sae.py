"""Train Safety SAE: harvest DiT activations on prompt pairs, train TopK SAEs at the chosen sites, choose the
harmful features on the source risk domains, optionally adapt the decoders to a target domain, and save the
result in ``models/safety_saes`` (never overwriting a file). Interrupted runs resume from the work folder."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from comfy_api.latest import io

import comfy.model_management
import comfy.utils
from steering_core import anchor_prompts
from steering_core.activation_shards import ShardDataset, ShardWriter
from steering_core.errors import SafeSteerError
from steering_core.safety_sae import SafetySAE, SiteSAE
from steering_core.sae_adapt import adapt_decoder
from steering_core.sae_features import select_safety_features
from steering_core.sae_train import SAETrainConfig, train_sae
from steering_core.sites import Site, parse_sites

from .comfy_harvest import LabeledPrompt, labeled_prompts, run_prompts
from .dit_adapter import DiTModelInfo, inspect_model
from .folders import SAES
from .rank_sites import HARVEST_STREAMS, category_list, harvest_inputs, limited_pairs, route
from .sae_blend_repel import DIT_STREAM
from .types import CATEGORY, SafetySAEType

ADAPT_CHOICES = ("none", "held-out categories", "held-out categories (benign only)", "benign anchors")
STREAM_KEY = {dit: key for key, dit in DIT_STREAM.items()}  # node stream -> SiteSAE stream
MAX_ROWS_PER_PROMPT = 256  # rows per prompt used to choose features (bounded memory)
WORK_DIR = ".work"


@dataclass(frozen=True)
class TrainSettings:
    """Everything that decides the result (hashed into the work folder's name, so resuming is safe)."""

    sites: str
    stream: str
    expansion: int
    k: int
    train_steps: int
    tokens_per_step: int
    n_harmful: int
    steps: int
    seed: int
    source: tuple[str, ...]
    target: tuple[str, ...]
    adapt_to: str
    prompts: tuple[str, ...]
    model: str

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:16]


def model_fingerprint(model: Any, info: DiTModelInfo) -> str:
    """Class, sizes and a sample of weights: a different model never resumes another model's work."""
    dm = model.model.diffusion_model
    h = hashlib.sha256(f"{info.class_name}:{info.hidden_size}:{info.num_double}:{info.num_single}".encode())
    for i, (name, p) in enumerate(dm.named_parameters()):
        if i >= 4:
            break
        h.update(name.encode())
        h.update(p.detach().reshape(-1)[:64].to("cpu", torch.float32).numpy().tobytes())
    return h.hexdigest()[:16]


class Progress:
    """One ComfyUI progress bar across harvest, training and adaptation."""

    def __init__(self, total: int):
        self.total = max(1, total)
        self.done = 0
        self.bar = comfy.utils.ProgressBar(self.total)

    def advance(self, n: int = 1) -> None:
        self.done += n
        self.bar.update_absolute(min(self.done, self.total), self.total)

    def at(self, offset: int) -> Callable[[int], None]:
        """Callback reporting ``offset + value``."""
        def report(value: int) -> None:
            self.bar.update_absolute(min(offset + value, self.total), self.total)
            comfy.model_management.throw_exception_if_processing_interrupted()  # the queue's Cancel stops training
        return report


def harvest(model: Any, clip: Any, latent: dict, prompts: list[LabeledPrompt], domain: list[str], sites: tuple[Site, ...],
            settings: TrainSettings, info: DiTModelInfo, work: Path, progress: Progress) -> None:
    """Write token rows per site into ``work/<site>/<domain>`` shards (skipped when already complete)."""
    done = work / "harvest.done"
    if done.exists():
        progress.advance(len(prompts))
        return
    shutil.rmtree(work / "harvest", ignore_errors=True)
    cats = sorted({p.category for p in prompts})
    writers: dict[tuple[Site, str], ShardWriter] = {}
    for site in sites:
        for dom in sorted(set(domain)):
            folder = work / "harvest" / str(site).replace(":", "_") / dom
            writers[(site, dom)] = ShardWriter(folder, str(site), info.hidden_size, dtype=torch.bfloat16)
    site_pos = {s: j for j, s in enumerate(sites)}

    def sink(i: int, site: Site, tokens: torch.Tensor, step: int) -> None:
        p = prompts[i]
        gen = torch.Generator().manual_seed(settings.seed * 1_000_003 + i * 1009 + step * 31 + site_pos[site])
        n = min(settings.tokens_per_step, tokens.shape[0])
        rows = tokens[torch.randperm(tokens.shape[0], generator=gen)[:n]]
        labels = {"prompt": torch.full((n,), i, dtype=torch.long), "unsafe": torch.full((n,), int(p.unsafe)),
                  "category": torch.full((n,), cats.index(p.category)), "step": torch.full((n,), step)}
        writers[(site, domain[i])].add(rows, labels)

    run_prompts(model, clip, prompts, latent, settings.steps, settings.seed, sites,
                DIT_STREAM[settings.stream], sink, progress.advance, info)
    for w in writers.values():
        w.close()
    done.write_text("complete\n")


def rows_by_prompt(dataset: ShardDataset, prompts: list[LabeledPrompt]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """(safe, unsafe) lists of ``[T_i, D]`` token rows per prompt (at most MAX_ROWS_PER_PROMPT each)."""
    grouped: dict[int, list[torch.Tensor]] = {}
    for acts, labels in dataset.iter_all(columns=["prompt"]):
        for pid in labels["prompt"].unique().tolist():
            have = sum(t.shape[0] for t in grouped.get(pid, []))
            if have < MAX_ROWS_PER_PROMPT:
                grouped.setdefault(pid, []).append(acts[labels["prompt"] == pid][:MAX_ROWS_PER_PROMPT - have])
    safe = [torch.cat(v) for pid, v in sorted(grouped.items()) if not prompts[pid].unsafe]
    unsafe = [torch.cat(v) for pid, v in sorted(grouped.items()) if prompts[pid].unsafe]
    return safe, unsafe


def adaptation_rows(dataset: ShardDataset, benign_only: bool) -> torch.Tensor:
    parts = []
    for acts, labels in dataset.iter_all(columns=["unsafe"]):
        parts.append(acts[labels["unsafe"] == 0] if benign_only else acts)
    rows = torch.cat(parts) if parts else torch.zeros(0)
    if rows.shape[0] < 16:
        raise SafeSteerError(f"only {rows.shape[0]} target-domain activation rows to adapt the decoder on; raise "
                             "pairs_per_category or tokens_per_step.")
    return rows


def train_safety_sae(model: Any, clip: Any, latent: dict, prompt_set: str, pairs_per_category: int, steps: int,
                     seed: int, sites: str, stream: str, expansion: int, k: int, train_steps: int,
                     tokens_per_step: int, n_harmful: int, source_categories: str, adapt_to: str, filename: str,
                     resume: bool, custom_pairs: str = "") -> tuple[SafetySAE, str, str]:
    """Do the whole job; returns (the saved Safety SAE as loaded back from disk, its path, a summary)."""
    if stream not in HARVEST_STREAMS:
        raise SafeSteerError(f"unknown stream {stream!r}; choose img, txt or both.")
    if adapt_to not in ADAPT_CHOICES:
        raise SafeSteerError(f"unknown adapt_to {adapt_to!r}; choose one of {', '.join(ADAPT_CHOICES)}.")
    stem = SAES.clean_stem(filename)
    info = inspect_model(model)
    pairs = limited_pairs(prompt_set, custom_pairs, pairs_per_category)
    listed = category_list(source_categories if source_categories.strip() != "all" else "", list(pairs),
                           "source_categories")
    source = listed or list(pairs)
    target = [c for c in pairs if c not in source]
    if adapt_to.startswith("held-out") and not target:
        raise SafeSteerError("adapt_to uses the held-out categories, but every category of the prompt set is a "
                             "source category; list the source categories in source_categories (the rest become "
                             "the target domain), or set adapt_to to 'none' or 'benign anchors'.")
    routing_note = ""
    spec = (sites or "").strip().lower()
    if spec.startswith("auto"):
        m = re.fullmatch(r"auto(?::(\d+))?", spec)
        if not m:
            raise SafeSteerError(f"sites {sites!r}: write 'auto', 'auto:4' or a list such as 'double:3, single:7'.")
        n_auto = int(m.group(1) or 4)
        ranking, _, by_key = route(model, clip, latent, pairs, steps, seed, "all", stream,
                                   source if target else None, 0.5)
        chosen = tuple(by_key[str(getattr(s, "site", s))] for s in ranking[:n_auto])
        routing_note = f"sites chosen by robustness-aware routing: {', '.join(str(s) for s in chosen)}"
    else:
        chosen = parse_sites(sites, info.num_double, info.num_single)
    prompts = labeled_prompts(pairs)
    domain = ["source" if p.category in source else "target" for p in prompts]
    if adapt_to == "benign anchors":
        anchors = anchor_prompts()[: max(8, 2 * pairs_per_category)]
        prompts += [LabeledPrompt(a, False, "anchor") for a in anchors]
        domain += ["target"] * len(anchors)
    settings = TrainSettings(", ".join(str(s) for s in chosen), STREAM_KEY[stream], expansion, k, train_steps,
                             tokens_per_step, n_harmful, steps, seed, tuple(source), tuple(target), adapt_to,
                             tuple(p.text for p in prompts), model_fingerprint(model, info))
    base = SAES.directory()
    existing = find_trained(SAES.stem_directory(stem), os.path.basename(stem), settings.digest(), info.hidden_size)
    if existing is not None:
        bundle, path = existing
        return bundle, path, (bundle.describe() + f"\nreused {os.path.relpath(path, base)} (trained earlier with these "
                              "exact settings on this model; change a setting or the filename to train again)")
    work = Path(base) / WORK_DIR / f"{stem.replace('/', '_')}-{settings.digest()}"
    if work.exists() and not resume:
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    adapt_steps = max(1, train_steps // 4) if adapt_to != "none" else 0
    progress = Progress(len(prompts) + len(chosen) * (train_steps + adapt_steps))
    harvest(model, clip, latent, prompts, domain, chosen, settings, info, work, progress)

    entries = []
    # ComfyUI runs nodes under inference_mode; training needs autograd (and tensors made outside it)
    with torch.inference_mode(False), torch.enable_grad():
        for j, site in enumerate(chosen):
            folder = work / "harvest" / str(site).replace(":", "_")
            data = ShardDataset(folder / "source")
            offset = len(prompts) + j * (train_steps + adapt_steps)
            if len(data) < 2 * k:
                raise SafeSteerError(f"only {len(data)} activation rows at {site}; raise pairs_per_category or tokens_per_step.")
            config = SAETrainConfig(expansion=expansion, k=k, steps=train_steps, seed=seed, batch_size=min(4096, len(data)),
                                    dead_after_tokens=max(10 * len(data), 100_000))
            sae, report = train_sae(data, config, progress=lambda s, *_a, o=offset: progress.at(o)(s),
                                    checkpoint_path=work / f"train-{str(site).replace(':', '_')}.safetensors", resume=resume)
            safe_rows, unsafe_rows = rows_by_prompt(data, prompts)
            features = select_safety_features(sae, safe_rows, unsafe_rows, n_harmful=n_harmful)
            features.stats["source_categories"] = list(source)
            info_notes: dict[str, object] = {"train": _jsonable(report), "tokens_per_step": tokens_per_step,
                                             "sampling_steps": steps}
            if adapt_steps:
                rows = adaptation_rows(ShardDataset(folder / "target"), benign_only=adapt_to != "held-out categories")
                sae, adapt_report = adapt_decoder(sae, rows, steps=adapt_steps, seed=seed,
                                                  progress=lambda s, *_a, o=offset + train_steps: progress.at(o)(s))
                info_notes["adapted"] = {"to": adapt_to, "target_categories": list(target), **_jsonable(adapt_report)}
            entries.append(SiteSAE(str(site), STREAM_KEY[stream], sae, features, info_notes))
    bundle = SafetySAE(entries, {"class": info.class_name, "arch": info.spec.name, "hidden_size": info.hidden_size,
                                 "num_double": info.num_double, "num_single": info.num_single,
                                 "prompt_set": prompt_set, "pairs_per_category": pairs_per_category,
                                 "settings_digest": settings.digest()})
    path = SAES.new_file(stem)
    bundle.save(path, overwrite=False)
    shutil.rmtree(work, ignore_errors=True)
    loaded = SafetySAE.load(path, expected_d_in=info.hidden_size)
    summary = loaded.describe() + f"\nsaved {os.path.relpath(path, base)}"
    if routing_note:
        summary += "\n" + routing_note
    return loaded, path, summary


def find_trained(directory: str, stem: str, digest: str, hidden_size: int) -> tuple[SafetySAE, str] | None:
    """A Safety SAE saved earlier as ``stem`` (or ``stem_NNNNN``) with exactly these settings, if any."""
    if not os.path.isdir(directory):
        return None
    pattern = re.compile(re.escape(stem) + r"(_\d{5})?\.safetensors")
    for name in sorted(os.listdir(directory)):
        if not pattern.fullmatch(name):
            continue
        path = os.path.join(directory, name)
        try:
            bundle = SafetySAE.load(path, expected_d_in=hidden_size)
        except SafeSteerError:
            continue
        if bundle.model.get("settings_digest") == digest:
            return bundle, path
    return None


def _jsonable(report: Any) -> dict[str, object]:
    data = asdict(report) if hasattr(report, "__dataclass_fields__") else dict(report)
    return {k: v for k, v in data.items() if isinstance(v, (int, float, str, bool, list, type(None)))}


class TrainSafetySAE(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SafeSteerTrainSAE",
            display_name="Train Safety SAE",
            category=CATEGORY,
            description="Harvest block activations of the prompt pairs, train a TopK sparse autoencoder per site, "
                        "choose the harmful (and safe) features on the source categories, optionally adapt only the "
                        "decoders to a target domain with the encoders frozen, and save to models/safety_saes (never "
                        "overwriting). Interrupted? Queue again with resume on: finished work is reused.",
            inputs=[
                *harvest_inputs(),
                io.String.Input("sites", default="auto:4",
                                tooltip="'auto:N' ranks every block (Rank Intervention Sites) and keeps the N most "
                                        "robust; or a list such as 'double:3, single:7' (e.g. from Rank Intervention "
                                        "Sites' output)."),
                io.Combo.Input("stream", options=list(HARVEST_STREAMS), default="img",
                               tooltip="Token stream the SAEs read (and later steer) at each block."),
                io.Int.Input("expansion", default=16, min=1, max=64,
                             tooltip="Dictionary size as a multiple of the model's hidden size."),
                io.Int.Input("k", default=32, min=1, max=1024, tooltip="Active latents per token (TopK)."),
                io.Int.Input("train_steps", default=2000, min=1, max=1_000_000, tooltip="Adam steps per site."),
                io.Int.Input("tokens_per_step", default=64, min=1, max=65536,
                             tooltip="Tokens recorded per prompt, step and site (a random subset)."),
                io.Int.Input("n_harmful", default=16, min=1, max=512,
                             tooltip="Harmful latents to keep per site (largest effect size, unsafe vs safe)."),
                io.String.Input("source_categories", default="all",
                                tooltip="'all', or a comma list: the SAE and its harmful features are learned on these; "
                                        "the remaining categories are the target domain for adaptation."),
                io.Combo.Input("adapt_to", options=list(ADAPT_CHOICES), default="none",
                               tooltip="Decoder-only adaptation with the encoder frozen: to the held-out categories' "
                                       "activations, only their benign prompts, or benign anchor prompts."),
                io.String.Input("filename", default="safety_sae",
                                tooltip="File name in models/safety_saes (a number is added if it exists)."),
                io.Boolean.Input("resume", default=True,
                                 tooltip="Reuse the harvested activations and training checkpoint of an interrupted run "
                                         "with the same settings."),
                io.String.Input("custom_pairs", default="", multiline=True, optional=True,
                                tooltip="For prompt_set 'custom': 'safe prompt | unsafe prompt' per line."),
            ],
            outputs=[SafetySAEType.Output(display_name="sae"), io.String.Output(display_name="summary")],
            is_output_node=True,
        )

    @classmethod
    def execute(cls, model: Any, clip: Any, latent: dict, prompt_set: str, pairs_per_category: int, steps: int,
                seed: int, sites: str, stream: str, expansion: int, k: int, train_steps: int, tokens_per_step: int,
                n_harmful: int, source_categories: str, adapt_to: str, filename: str, resume: bool,
                custom_pairs: str = "") -> io.NodeOutput:
        bundle, _path, summary = train_safety_sae(
            model, clip, latent, prompt_set, pairs_per_category, steps, seed, sites, stream, expansion, k, train_steps,
            tokens_per_step, n_harmful, source_categories, adapt_to, filename, resume, custom_pairs)
        return io.NodeOutput(bundle, summary, ui={"text": [summary]})
