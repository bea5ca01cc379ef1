"""Steer, SAE-steer or monitor a diffusers pipeline: the same plans as the ComfyUI nodes, other host.

``steer_pipeline`` is DiT Safety Steer, ``sae_blend_repel_pipeline`` SAE Blend/Repel and
``monitor_pipeline`` Safety Monitor: the same :class:`~steering_core.steering.dit.DiTSteerer`,
:class:`~steering_core.sae.steering.SAESteerer` and :class:`~steering_core.evidence.monitor.SafetyMonitorLog`
behind the same planners (:mod:`steering_core.steering.site_plans`), the same direction and SAE files, hooked
through diffusers' ``HookRegistry`` (:mod:`.hooks`). Each returns a :class:`SteeringHandle`; the
pipeline is steered until ``handle.remove()`` (or the end of a ``with handle:`` block).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Iterable, Iterator, Sequence

from ..steering.dit import DiTSteerConfig, DiTSteerer
from ..directions.direction import SafetyDirection
from ..errors import DimensionMismatchError, SafeSteerError
from ..evidence.monitor import SafetyMonitorLog
from ..sae.safety_sae import SafetySAE
from ..sae.steering import PATHS, SAESteerConfig, SAESteerer
from ..steering.site_plans import DirectionPlanner, MonitorPlanner, SitePlanner
from ..steering.sites import Site, parse_sites, sae_site
from .experts import choose_expert, pipeline_experts
from .families import TransformerInfo, inspect_transformer
from .hooks import PipelineSteering, StepClock

SAE_STREAMS = {"img": "img", "txt": "txt", "all": "both", "both": "both"}


class SteeringHandle:
    """A live steering of one pipeline: ``remove()``, ``set_strength(...)``, ``report()``; a context manager.

    ``log`` is the :class:`SafetyMonitorLog` of a monitor (None otherwise).
    """

    def __init__(self, parts: list[PipelineSteering], restrength: Any = None, log: SafetyMonitorLog | None = None):
        self._parts = parts
        self._restrength = restrength
        self.log = log

    def remove(self) -> None:
        """Take every hook out; the transformer's modules are as before the call that made this handle."""
        for part in self._parts:
            part.remove()

    def set_strength(self, *values: Any) -> None:
        """New strength(s) for the following calls: ``strength`` (one value or one per category) for a
        direction; ``beta, gamma`` for SAE Blend/Repel."""
        if self._restrength is None:
            raise SafeSteerError("this handle has no strength (a monitor records, it does not steer).")
        self._restrength(*values)

    def report(self) -> dict[str, Any]:
        """Planned calls; per site, the calls in which its block was edited (or recorded): ``edits``, and those
        in which the edit changed a token: ``changed`` (0 everywhere: no gate opened / no harmful feature fired);
        ``note`` says so in words when a steering run changed nothing."""
        edits: dict[str, int] = {}
        changed: dict[str, int] = {}
        for part in self._parts:
            prefix = "" if part.expert == "transformer" else f"{part.expert}/"      # Wan 2.2's second expert
            edits.update({prefix + site: n for site, n in part.edits.items()})
            changed.update({prefix + site: n for site, n in part.changes().items()})
        out: dict[str, Any] = {"calls": sum(p.calls for p in self._parts), "edits": edits, "changed": changed}
        if self._restrength is not None and any(edits.values()) and not any(changed.values()):
            out["note"] = (f"the steered sites ran {sum(edits.values())} times and no token needed a change (no gate "
                           f"opened / no harmful feature fired); the output equals the unsteered pipeline's.")
        return out

    @property
    def active(self) -> bool:
        return any(p.active for p in self._parts)

    def __enter__(self) -> "SteeringHandle":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.remove()


def _clock(pipe: Any, start_percent: float, end_percent: float) -> StepClock:
    scheduler = getattr(pipe, "scheduler", None)
    if scheduler is None:
        raise SafeSteerError(f"{type(pipe).__name__} has no scheduler, so the sigma window cannot be read.")
    return StepClock(scheduler, float(start_percent), float(end_percent))


def _install_all(parts: Iterable[PipelineSteering]) -> list[PipelineSteering]:
    """Install every part (``parts`` hooks each one as it is produced); when a later one fails, those
    already hooked are removed before the error reaches the caller."""
    done: list[PipelineSteering] = []
    try:
        for part in parts:
            done.append(part)
    except BaseException:
        for part in done:
            part.remove()
        raise
    return done


def _conditioning_check(steerer: DiTSteerer, info: TransformerInfo) -> None:
    if steerer.space == "conditioning" and info.project is None:
        raise DimensionMismatchError(
            f"{info.family.name}'s text projection needs more than the conditioning, so a direction of size "
            f"{steerer.direction.dim} (conditioning space) cannot be mapped into its blocks; give a direction in its "
            f"hidden space ({info.hidden_size}), or steer prompt_embeds with steering_core.steer.")


def steer_pipeline(pipe: Any, direction: SafetyDirection, strength: float | Sequence[float] = 1.0,
                   mode: str = "gated", sites: str = "all", stream: str = "both", start_percent: float = 0.0,
                   end_percent: float = 1.0, cond_only: bool = True, space: str = "auto") -> SteeringHandle:
    """Steer ``pipe.transformer``'s blocks along ``direction`` (DiT Safety Steer's maths and defaults), and
    ``pipe.transformer_2``'s when it is set (Wan 2.2's low-noise expert), each through its own text projection.

    Args:
        pipe: a diffusers pipeline whose transformer is in :data:`~.families.FAMILIES`.
        direction: in the transformer's conditioning space ``C`` (from the pipeline's own text encoder,
            see :class:`~.encoders.PipelineTextEncoder`; mapped through the transformer's text projection)
            or its hidden space ``H``.
        strength: one value or one per category; 1.0 shifts each steered token by what one unsafe-to-safe
            gap in the conditioning does to the text stream entering the first block.
        mode: "gated" (default; needs gate thresholds), "add" or "project_out".
        sites: "all", "double:0-18", "single:10-", "double:3, single:7" (single-stack models: "double"/"blocks").
        stream: "img", "txt" or "both". start_percent, end_percent: the window (see :mod:`.hooks`).
        cond_only: leave the unconditional CFG branch alone.
        space: "auto", "hidden" or "conditioning".
    """
    clock = _clock(pipe, start_percent, end_percent)
    config = DiTSteerConfig(mode=mode, strength=strength, streams=stream, cond_only=cond_only, space=space)
    planners: list[tuple[DirectionPlanner, TransformerInfo]] = []

    def parts() -> Iterator[PipelineSteering]:
        for expert in pipeline_experts(pipe):
            info = inspect_transformer(getattr(pipe, expert))
            chosen = parse_sites(sites, info.num_double, info.num_single)
            steerer = DiTSteerer(direction, config, info.hidden_size, info.context_dim)
            _conditioning_check(steerer, info)
            planner = DirectionPlanner(steerer, info.project, info.family.text_projection_linear)
            planners.append((planner, info))
            yield PipelineSteering(pipe, info, planner, chosen, stream, clock, expert=expert)

    installed = _install_all(parts())

    def restrength(value: float | Sequence[float]) -> None:
        for planner, info in planners:
            planner.steerer = DiTSteerer(direction, replace(config, strength=value), info.hidden_size, info.context_dim)

    return SteeringHandle(installed, restrength)


def sae_blend_repel_pipeline(pipe: Any, safety_sae: SafetySAE, beta: float = 0.5, gamma: float = 1.0,
                             sites: str = "all", start_percent: float = 0.0, end_percent: float = 1.0,
                             cond_only: bool = True, path: str = "fast", expert: str = "auto") -> SteeringHandle:
    """SAE Blend/Repel at the Safety SAE's sites (the node's maths and defaults; same files).

    Only tokens where a harmful feature fires change. ``sites``: "all" (every SAE in the file) or a
    subset. ``handle.set_strength(beta, gamma)`` changes both strengths. ``expert``: the transformer the
    SAE was trained on; "auto" is the pipeline's only one (a two-expert Wan 2.2 pipeline must name it,
    since an SAE belongs to one model's weights and the other expert's steps stay unsteered).
    """
    if not isinstance(safety_sae, SafetySAE):
        raise SafeSteerError("safety_sae must be a SafetySAE (steering_core.load of a Safety SAE file).")
    if path not in PATHS:
        raise SafeSteerError(f"unknown encoder path {path!r}; choose fast or full.")
    expert = choose_expert(pipe, expert, "a Safety SAE")
    clock = _clock(pipe, start_percent, end_percent)
    info = inspect_transformer(getattr(pipe, expert))
    located = [(sae_site(e.site, info.num_double, info.num_single, f"{info.family.name} transformer"), e) for e in safety_sae]
    for site, entry in located:
        if entry.sae.d_in != info.hidden_size:
            raise DimensionMismatchError(
                f"the SAE at {entry.site} reads activations of size {entry.sae.d_in}, but this {info.family.name} "
                f"transformer's blocks output size {info.hidden_size}; train a Safety SAE on this model.")
        if entry.features is None or entry.features.harmful.numel() == 0:
            raise SafeSteerError(f"the SAE at {entry.site} has no harmful features chosen, so there is nothing to steer.")
    if (sites or "all").strip().lower() != "all":
        wanted = set(parse_sites(sites, info.num_double, info.num_single))
        located = [(s, e) for s, e in located if s in wanted]
        if not located:
            raise SafeSteerError(f"none of the sites {sites!r} has an SAE in this file; it has "
                                 f"{', '.join(safety_sae.site_keys)}.")
    planners: list[tuple[SitePlanner, dict[Site, Any]]] = []
    parts: list[PipelineSteering] = []
    by_stream: dict[str, dict[Site, Any]] = {}
    for site, entry in located:
        by_stream.setdefault(SAE_STREAMS.get(entry.stream, "img"), {})[site] = entry

    def steerers(entries: dict[Site, Any], b: float, g: float) -> dict[Site, SAESteerer]:
        for name, value in (("beta", b), ("gamma", g)):
            if float(value) < 0:
                raise SafeSteerError(f"{name} must not be negative, got {value}.")
        config = SAESteerConfig(beta=float(b), gamma=float(g), path=path)
        return {s: SAESteerer(e.sae, e.features, config) for s, e in entries.items()}

    for stream, entries in by_stream.items():
        planner = SitePlanner(steerers(entries, beta, gamma), cond_only, identity=beta == 0 and gamma == 0)
        planners.append((planner, entries))
        parts.append(PipelineSteering(pipe, info, planner, tuple(entries), stream, clock, expert=expert))

    def restrength(b: float, g: float) -> None:
        for planner, entries in planners:
            planner.editors = steerers(entries, b, g)
            planner._identity = b == 0 and g == 0

    return SteeringHandle(parts, restrength)


def monitor_pipeline(pipe: Any, direction: SafetyDirection, sites: str = "all", stream: str = "img",
                     category: str = "", label: str = "monitor") -> SteeringHandle:
    """Record, every call, the mean projection of each site's tokens on the direction mapped into the
    blocks (as :func:`steer_pipeline` maps it), per branch; ``handle.log`` is the
    :class:`SafetyMonitorLog` (higher = safer). Hook it after a steering handle to watch the steered
    activations. A new run starts whenever the scheduler is back at its first step. With two experts
    (Wan 2.2) both are watched, so every step is logged by the expert that ran it.
    """
    clock = _clock(pipe, 0.0, 1.0)
    infos = [(expert, inspect_transformer(getattr(pipe, expert))) for expert in pipeline_experts(pipe)]
    chosen = {expert: parse_sites(sites, info.num_double, info.num_single) for expert, info in infos}
    cat = (category or "").strip() or ("global" if "global" in direction.categories else direction.categories[0])
    if cat not in direction.categories:
        raise SafeSteerError(f"category {cat!r} is not in the direction; it has {', '.join(direction.categories)}.")
    log = SafetyMonitorLog(label=label or "monitor", category=cat, sites=[str(s) for s in chosen[infos[0][0]]])
    last = {"step": None}

    def on_call(step: int, sigma: float) -> None:
        if last["step"] is None or step < last["step"]:
            log.start_run()
        last["step"] = step

    def parts() -> Iterator[PipelineSteering]:
        # every expert writes the one log: each step runs one of them, so the log has one value per step
        for expert, info in infos:
            steerer = DiTSteerer(direction.select([cat]), DiTSteerConfig(mode="add", strength=1.0, streams="both",
                                                                         cond_only=False), info.hidden_size, info.context_dim)
            _conditioning_check(steerer, info)
            planner = MonitorPlanner(log, steerer, info.project, info.family.text_projection_linear, chosen[expert])
            yield PipelineSteering(pipe, info, planner, chosen[expert], stream, clock, on_call=on_call, expert=expert)

    return SteeringHandle(_install_all(parts()), None, log)
