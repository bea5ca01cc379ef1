"""What an SAE pipeline needs from a host: an *activation source*, and what it does with one.

An :class:`ActivationSource` is a diffusion transformer behind a host (ComfyUI's sampler in
``nodes/comfy_source.py``, a diffusers pipeline in ``steering_core.diffusers.source``) that can run
prompts and hand back the block activations at chosen sites. The pipeline (:mod:`.sae_pipeline`),
the routing (:func:`route_sites`) and :func:`pooled_activations` see nothing else of the host.

Sites are :class:`~steering_core.steering.sites.Site` blocks (``double:i`` / ``single:i``); streams are
``"img"``, ``"txt"`` or ``"both"`` (the token streams a block outputs). A Safety SAE file names the
stream it reads ``"img"``, ``"txt"`` or ``"all"`` (:data:`SAE_STREAM_KEY`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Callable, Mapping, Protocol, Sequence, runtime_checkable

import torch

from ..errors import SafeSteerError
from ..directions.prompts import PromptPair
from .routing import SiteScore, rank_sites
from ..steering.sites import Site, parse_sites

#: Streams a source can record.
HARVEST_STREAMS: tuple[str, ...] = ("img", "txt", "both")
#: harvest stream -> the stream key a Safety SAE file stores (``SiteSAE.stream``)
SAE_STREAM_KEY: dict[str, str] = {"img": "img", "txt": "txt", "both": "all"}

#: ``sink(prompt_index, site, tokens [T, H] float32 CPU, step)``: one prompt's tokens at one site and step.
TokenSink = Callable[[int, Site, torch.Tensor, int], None]


@dataclass(frozen=True)
class LabeledPrompt:
    """A prompt with its labels: ``pair`` indexes the pair within its category (-1 for unpaired prompts)."""

    text: str
    unsafe: bool
    category: str
    pair: int = -1


def labeled_prompts(pairs: Mapping[str, Sequence[PromptPair]]) -> list[LabeledPrompt]:
    """Both prompts of every pair, safe first, category by category."""
    out = []
    for category, plist in pairs.items():
        for i, p in enumerate(plist):
            out.append(LabeledPrompt(p.safe, False, category, i))
            out.append(LabeledPrompt(p.unsafe, True, category, i))
    return out


@runtime_checkable
class ActivationSource(Protocol):
    """A diffusion transformer a host can run on prompts while recording block activations.

    Attributes:
        hidden_size: ``H``, the size of a block's output tokens.
        num_double, num_single: the block counts; the site list is ``parse_sites("all", num_double, num_single)``.
    """

    hidden_size: int
    num_double: int
    num_single: int

    def fingerprint(self) -> str:
        """A short string that changes with the model (class, sizes, a sample of weights): a different
        model never resumes or reuses another model's work."""
        ...

    def describe(self) -> dict[str, object]:
        """What the SAE file records about the model: at least ``class`` and ``arch``."""
        ...

    def run(self, prompts: Sequence[str], steps: int, seed: int, sites: tuple[Site, ...], stream: str,
            sink: TokenSink, progress: Callable[[int], None] | None = None) -> None:
        """Sample every prompt for ``steps`` steps (conditional branch only; the same seeded noise for every
        prompt, so paired prompts differ only in their text) and call ``sink(i, site, tokens [T, H], step)``
        for prompt ``i`` at every site and step (``step`` counts from 0). ``progress(1)`` after each prompt;
        a host cancels by raising from it or from its own checks."""
        ...


def weights_fingerprint(module: torch.nn.Module, class_name: str, hidden_size: int, num_double: int,
                        num_single: int) -> str:
    """16 hex digits of the class, sizes, and the names and first 64 values of the first 4 parameters: cheap,
    and different for a different model (or the same model with other weights)."""
    h = hashlib.sha256(f"{class_name}:{hidden_size}:{num_double}:{num_single}".encode())
    for i, (name, p) in enumerate(module.named_parameters()):
        if i >= 4:
            break
        h.update(name.encode())
        h.update(p.detach().reshape(-1)[:64].to("cpu", torch.float32).numpy().tobytes())
    return h.hexdigest()[:16]


def source_sites(source: ActivationSource, spec: str) -> tuple[Site, ...]:
    """The sites a spec names on this source's model (SafeSteerError naming its block counts otherwise)."""
    return parse_sites(spec, source.num_double, source.num_single)


def check_stream(stream: str) -> str:
    if stream not in HARVEST_STREAMS:
        raise SafeSteerError(f"unknown stream {stream!r}; choose img, txt or both.")
    return stream


def pooled_activations(source: ActivationSource, prompts: Sequence[str], steps: int, seed: int,
                       sites: tuple[Site, ...], stream: str,
                       progress: Callable[[int], None] | None = None) -> dict[Site, torch.Tensor]:
    """Per site ``[N, H]`` float32: each prompt's block activations averaged over tokens and steps
    (accumulated in float64). A site that recorded nothing is an error naming it and the stream."""
    sums: dict[Site, torch.Tensor] = {}
    counts: dict[Site, torch.Tensor] = {}
    n = len(prompts)

    def sink(i: int, site: Site, tokens: torch.Tensor, step: int) -> None:
        if site not in sums:
            sums[site] = torch.zeros(n, tokens.shape[-1], dtype=torch.float64)
            counts[site] = torch.zeros(n, dtype=torch.float64)
        sums[site][i] += tokens.to(torch.float64).sum(dim=0)
        counts[site][i] += tokens.shape[0]

    source.run(prompts, steps, seed, sites, check_stream(stream), sink, progress)
    missing = [str(s) for s in sites if s not in sums]
    if missing:
        raise SafeSteerError(f"no activations were recorded at {', '.join(missing)} (stream {stream!r}); pick sites and "
                             "a stream this model has.")
    return {s: (sums[s] / counts[s].clamp_min(1).unsqueeze(1)).to(torch.float32) for s in sites}


def route_sites(source: ActivationSource, pairs: Mapping[str, Sequence[PromptPair]], steps: int, seed: int,
                candidates: str, stream: str, source_categories: Sequence[str] | None, lam: float,
                progress: Callable[[int], None] | None = None) -> tuple[list[SiteScore], dict[str, Site]]:
    """Robustness-aware routing (:func:`~steering_core.sae.routing.rank_sites`) on pooled activations of both
    prompts of every pair at the candidate sites; returns (ranking best first, sites by key).
    ``source_categories`` None = leave one category out; else the others are the shifted domain."""
    if len(pairs) < 2:
        raise SafeSteerError("routing scores stability under a risk-domain shift, so it needs at least 2 categories; "
                             "use the 'all categories' prompt set or custom pairs spanning several categories.")
    sites = source_sites(source, candidates)
    prompts = labeled_prompts(pairs)
    pooled = pooled_activations(source, [p.text for p in prompts], steps, seed, sites, stream, progress)
    unsafe = torch.tensor([p.unsafe for p in prompts])
    categories = [p.category for p in prompts]
    src = None if source_categories is None else list(source_categories)
    target = None if src is None else [c for c in pairs if c not in src]
    ranking = rank_sites({str(s): pooled[s] for s in sites}, unsafe, categories, source=src, target=target, lam=lam)
    return ranking, {str(s): s for s in sites}
