"""Per-call plans and per-block token edits on a diffusers transformer, through diffusers' own hooks.

One :class:`PipelineSteering` owns a planner (``steering_core.steering.site_plans``: a direction, SAE editors,
or the monitor) and registers, under one unique name, ``diffusers.hooks.ModelHook`` s with
``HookRegistry.check_if_exists_or_initialize(module).register_hook``:

* on the transformer: ``pre_forward`` reads the call's latents, text conditioning
  (``encoder_hidden_states [B, T, C]``) and the scheduler's current step, decides the window and the
  branch of each row, and asks the planner for the call's plan once; ``post_forward`` checks that every
  steered site was reached when the plan could edit (never a silent no-op) and drops the plan.
* on each steered block: ``post_forward`` edits the block's output streams (``pre_forward`` edits the
  cross-attention context a block reads, for Wan / LTX-Video's "txt" stream) and notes whether a token
  changed: under ``torch.compile`` (or on an accelerator) as a 0-d tensor of the graph, kept unread until
  ``SteeringHandle.report()`` sums them, so a compiled run reports "no gate opened" as an eager one does.

Branches (``cond_only``). diffusers pipelines name the branch of a transformer call with
``transformer.cache_context(name)``: "cond" / "uncond" when they run the branches as separate calls
(Flux true CFG, Wan, Qwen-Image, HunyuanVideo), "cond_uncond" when they batch them as
``cat([negative, positive])`` (LTX-Video). The transformer hook is stateful and holds a
``StateManager``, so the registry hands it that context. A pipeline that sets no context but reports ``do_classifier_free_guidance`` (SD3) batches
the same way, unconditional rows first, when the call has an even number of rows; otherwise every row
is conditional (e.g. SD3's skip-layer-guidance pass, which runs the positive prompt alone).

Window. The step is the scheduler's ``step_index`` (its ``begin_index`` before the first ``step``), its
timestep ``t = scheduler.timesteps[step]``; a step is steered iff
``(1 - end_percent) * T <= t <= (1 - start_percent) * T`` with ``T = num_train_timesteps`` (for
flow-matching schedulers ``t / T`` is the step's sigma, as ComfyUI's ``percent_to_sigma`` of an
unshifted schedule). Schedulers without ``step_index`` are matched on the call's timestep.
"""

from __future__ import annotations

import inspect
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import torch

from ..errors import SafeSteerError
from ..steering.dit import Touched
from ..steering.site_plans import apply_plan, either
from ..steering.sites import Site
from .families import TransformerInfo, blocks_of

try:
    from diffusers.hooks import HookRegistry, ModelHook
    from diffusers.hooks.hooks import StateManager
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise SafeSteerError("steering_core.diffusers needs the diffusers package: pip install 'safesteer[diffusers]'.") from exc

HOOK_PREFIX = "safesteer."
_CREATED = "_safesteer_created_registry"
#: cache-context name -> ComfyUI-style chunk list (0 = cond, 1 = uncond)
CONTEXT_BRANCHES: dict[str, list[int]] = {"cond": [0], "uncond": [1], "cond_uncond": [1, 0]}


@dataclass
class CallState:
    """One transformer call: its plan, branch layout and what the blocks saw.

    ``visited``: the sites that ran with the plan; ``touched``: per site, whether it changed a token (a Python
    bool, or a 0-d bool tensor where only the device knows: under torch.compile, on an accelerator; read by
    :meth:`PipelineSteering.changes`, never inside the call).
    """

    plan: Any
    context_len: int | None
    txt_len: int | None = None
    visited: set[str] = field(default_factory=set)
    touched: dict[str, Touched] = field(default_factory=dict)

    def plan_at(self, site: Site) -> Any:
        for_site = getattr(self.plan, "for_site", None)
        return for_site(site) if callable(for_site) else self.plan

    def mark(self, site: Site, touched: Touched) -> None:
        """``site`` ran with the plan this call; ``touched``: whether that edit changed a token."""
        key = str(site)
        self.visited.add(key)
        self.touched[key] = either(self.touched.get(key, False), touched)


class StepClock:
    """The scheduler's current step, its timestep and sigma, and whether it is inside the window."""

    def __init__(self, scheduler: Any, start_percent: float, end_percent: float):
        if not 0.0 <= start_percent <= end_percent <= 1.0:
            raise SafeSteerError(f"need 0 <= start_percent ({start_percent}) <= end_percent ({end_percent}) <= 1.")
        self.scheduler = scheduler
        config = getattr(scheduler, "config", None)
        self.train_steps = float(getattr(config, "num_train_timesteps", None) or 1000)
        self.t_high = (1.0 - start_percent) * self.train_steps
        self.t_low = (1.0 - end_percent) * self.train_steps

    def current(self, timestep: torch.Tensor | float | None) -> tuple[int, float, float]:
        """``(step, t, sigma)`` of the running step; SafeSteerError when it cannot be told."""
        sched = self.scheduler
        timesteps = getattr(sched, "timesteps", None)
        if not isinstance(timesteps, torch.Tensor) or timesteps.numel() == 0:
            raise SafeSteerError("the pipeline's scheduler has no timesteps yet; steer through pipe(...), which sets them.")
        if hasattr(sched, "step_index"):
            idx = sched.step_index
            if idx is None:
                idx = getattr(sched, "begin_index", None) or 0
        else:
            if timestep is None:
                raise SafeSteerError(f"cannot tell the step of {type(sched).__name__} without the call's timestep.")
            t_arg = float(torch.as_tensor(timestep).reshape(-1)[0])
            ts = timesteps.to(torch.float64)
            scale = 1.0 if ts.max() <= 1.0 + 1e-6 or t_arg > 1.0 + 1e-6 else self.train_steps
            idx = int((ts - t_arg * scale).abs().argmin())
        idx = min(int(idx), timesteps.numel() - 1)
        t = float(timesteps[idx])
        sigmas = getattr(sched, "sigmas", None)
        sigma = float(sigmas[idx]) if isinstance(sigmas, torch.Tensor) and sigmas.numel() > idx else t / self.train_steps
        return idx, t, sigma

    def inside(self, t: float) -> bool:
        eps = 1e-6 * self.train_steps
        return self.t_low - eps <= t <= self.t_high + eps


def _arg(names: Sequence[str], name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    if name in kwargs:
        return kwargs[name]
    i = names.index(name) if name in names else -1
    return args[i] if 0 <= i < len(args) else None


def _param_names(module: torch.nn.Module) -> list[str]:
    return [p for p in inspect.signature(type(module).forward).parameters if p != "self"]


class _BranchName(StateManager):
    """Receives diffusers' cache context: the registry hands every ``StateManager`` attribute of a stateful
    hook ``set_context(context)``, a name (older diffusers) or a ``CacheContext`` with ``.name`` (0.42+)."""

    def __init__(self) -> None:
        super().__init__(object)
        self.name: str | None = None

    def set_context(self, context: Any) -> None:
        name = getattr(context, "name", context)
        self.name = name if isinstance(name, str) else None


class _TransformerHook(ModelHook):
    """Plans each transformer call; stateful so that diffusers' ``cache_context`` names reach it."""

    _is_stateful = True

    def __init__(self, owner: "PipelineSteering"):
        super().__init__()
        self.owner = owner
        self.branch = _BranchName()

    def reset_state(self, module: torch.nn.Module) -> torch.nn.Module:
        self.branch.name = None
        return module

    def pre_forward(self, module: torch.nn.Module, *args: Any, **kwargs: Any) -> tuple[tuple[Any], dict[str, Any]]:
        self.owner.begin_call(args, kwargs, self.branch.name)
        return args, kwargs

    def post_forward(self, module: torch.nn.Module, output: Any) -> Any:
        self.owner.end_call()
        return output


class _BlockHook(ModelHook):
    """Edits one block's output streams (and, for Wan / LTX-Video "txt", the context it reads)."""

    def __init__(self, owner: "PipelineSteering", site: Site, steer: bool):
        super().__init__()
        self.owner, self.site, self.steer = owner, site, steer
        fam = owner.info.family
        self.out = fam.double_out if site.kind == "double" else fam.single_out
        self.context_index: int = -1

    def initialize_hook(self, module: torch.nn.Module) -> torch.nn.Module:
        names = _param_names(module)
        self.context_index = names.index("encoder_hidden_states") if "encoder_hidden_states" in names else -1
        return module

    def pre_forward(self, module: torch.nn.Module, *args: Any, **kwargs: Any) -> tuple[tuple[Any], dict[str, Any]]:
        state, choice = self.owner.state, self.owner.choice
        if state is None or not self.steer or not choice.txt or self.out != "img":
            return args, kwargs
        # text is a cross-attention input here: steer the prompt's own tokens (the last context_len;
        # Wan image-to-video puts image-prompt tokens first)
        in_kwargs = "encoder_hidden_states" in kwargs
        ctx = kwargs["encoder_hidden_states"] if in_kwargs else (
            args[self.context_index] if 0 <= self.context_index < len(args) else None)
        if not isinstance(ctx, torch.Tensor):
            return args, kwargs
        n = min(state.context_len or ctx.shape[1], ctx.shape[1])
        new, touched = apply_plan(state.plan_at(self.site), ctx, ctx.shape[1] - n, ctx.shape[1])
        state.mark(self.site, touched)
        if in_kwargs:
            kwargs = {**kwargs, "encoder_hidden_states": new}
        else:
            args = (*args[:self.context_index], new, *args[self.context_index + 1:])
        return args, kwargs

    def post_forward(self, module: torch.nn.Module, output: Any) -> Any:
        state = self.owner.state
        if state is None:
            return output
        choice = self.owner.choice
        if isinstance(output, tuple) and len(output) >= 2 and self.out != "img":
            ti, ii = (1, 0) if self.out == "img_txt" else (0, 1)
            txt, img = output[ti], output[ii]
            if isinstance(txt, torch.Tensor):
                state.txt_len = int(txt.shape[1])
            if not self.steer:
                return output
            plan = state.plan_at(self.site)
            new = list(output)
            touched: Touched = False
            for index, tokens, wanted in ((ii, img, choice.img), (ti, txt, choice.txt)):
                if wanted and isinstance(tokens, torch.Tensor):
                    new[index], hit = apply_plan(plan, tokens)
                    touched = either(touched, hit)
            state.mark(self.site, touched)
            return tuple(new)
        if not isinstance(output, torch.Tensor):
            raise SafeSteerError(f"{self.owner.info.class_name} block {self.site} returned {type(output).__name__}; "
                                 f"SafeSteer expected the token streams of a {self.owner.info.family.name} block.")
        if not self.steer:
            return output
        plan = state.plan_at(self.site)
        if self.out == "img":
            new, touched = apply_plan(plan, output) if choice.img else (output, False)
            state.mark(self.site, touched)
            return new
        # one [txt, img] token tensor (Flux 2 single blocks): text first, as long as the call's conditioning
        txt_len = state.txt_len if state.txt_len is not None else state.context_len
        if txt_len is None:
            raise SafeSteerError(f"cannot tell where the text tokens end in {self.site}'s output.")
        span = (0, output.shape[1]) if choice.img and choice.txt else (
            (txt_len, output.shape[1]) if choice.img else (0, txt_len))
        new, touched = apply_plan(plan, output, *span)
        state.mark(self.site, touched)
        return new


@dataclass(frozen=True)
class StreamChoice:
    img: bool
    txt: bool

    @classmethod
    def parse(cls, stream: str) -> "StreamChoice":
        if stream not in ("img", "txt", "both"):
            raise SafeSteerError(f"unknown stream {stream!r}; choose img, txt or both.")
        return cls(img=stream in ("img", "both"), txt=stream in ("txt", "both"))


class PipelineSteering:
    """Hooks one planner into a pipeline's transformer at ``sites``; see the module docstring.

    Args:
        pipe: a diffusers pipeline (``pipe.transformer``, ``pipe.scheduler``).
        info: the transformer seen through the family table.
        planner: ``prepare_call(x, sigma, context, cond_or_uncond) -> plan | None`` and ``is_identity``.
        sites: blocks to edit. stream: "img", "txt" or "both".
        clock: the sigma window. on_call: called with ``(step, sigma)`` before each planned call.
        expert: which of the pipeline's transformers to hook (``"transformer"``, or ``"transformer_2"``,
            Wan 2.2's low-noise expert; ``SteeringHandle.report()`` prefixes its sites ``"transformer_2/"``).
    """

    def __init__(self, pipe: Any, info: TransformerInfo, planner: Any, sites: tuple[Site, ...], stream: str,
                 clock: StepClock, on_call: Callable[[int, float], None] | None = None, expert: str = "transformer"):
        self.pipe, self.info, self.planner, self.sites = pipe, info, planner, sites
        self.transformer: torch.nn.Module = getattr(pipe, expert)
        self.expert = expert
        self.choice = StreamChoice.parse(stream)
        self.clock = clock
        self.on_call = on_call
        self.name = HOOK_PREFIX + uuid.uuid4().hex
        self.state: CallState | None = None
        self.edits: dict[str, int] = {str(s): 0 for s in sites}
        self._changed: dict[str, int] = {str(s): 0 for s in sites}
        self._on_device: dict[str, torch.Tensor] = {}  # per site, changed-call counts not yet read (int64, 0-d)
        self.calls = 0
        self._names = _param_names(self.transformer)
        self._hooked: list[torch.nn.Module] = []
        self._install()

    # ------------------------------------------------------------------ per call
    def branches(self, batch: int, context_name: str | None) -> list[int] | None:
        """ComfyUI-style chunk list for this call (module docstring), None when every row is conditional."""
        if context_name in CONTEXT_BRANCHES:
            return CONTEXT_BRANCHES[context_name]
        if context_name is None and bool(getattr(self.pipe, "do_classifier_free_guidance", False)) and batch % 2 == 0:
            return [1, 0]
        return None

    @torch.compiler.disable
    def begin_call(self, args: tuple[Any, ...], kwargs: dict[str, Any], context_name: str | None) -> None:
        self.state = None
        x = _arg(self._names, "hidden_states", args, kwargs)
        context = _arg(self._names, "encoder_hidden_states", args, kwargs)
        if not isinstance(x, torch.Tensor):
            return
        step, t, sigma = self.clock.current(_arg(self._names, "timestep", args, kwargs))
        if self.on_call is not None:
            self.on_call(step, sigma)
        if not self.clock.inside(t) or self.planner.is_identity:
            return
        context = context if isinstance(context, torch.Tensor) else None
        plan = self.planner.prepare_call(x, sigma, context, self.branches(int(x.shape[0]), context_name))
        if plan is not None:
            self.state = CallState(plan, int(context.shape[1]) if context is not None else None)

    @torch.compiler.disable
    def end_call(self) -> None:
        state, self.state = self.state, None
        if state is None:
            return
        self.calls += 1
        finish = getattr(state.plan, "finish", None)
        if callable(finish):
            finish()
        for site in state.visited:
            if site in self.edits:
                self.edits[site] += 1
        for site, touched in state.touched.items():
            if site not in self._changed:
                continue
            if isinstance(touched, torch.Tensor):  # summed on the device (bounded memory), read in changes()
                flag = touched.reshape(()).to(torch.int64)
                total = self._on_device.get(site)
                self._on_device[site] = flag if total is None else total + flag
            else:
                self._changed[site] += int(touched)
        if getattr(state.plan, "is_identity", False):
            return
        missing = [str(s) for s in self.sites if str(s) not in state.visited]
        if missing:
            raise SafeSteerError(
                f"SafeSteer planned an edit at {', '.join(missing)} of {self.info.class_name} ({self.expert}) but it "
                f"never ran those blocks with stream {self._stream_name()} (skipped layers, another block order, or "
                f"a stream this family does not return there). Choose other sites or streams.")

    def changes(self) -> dict[str, int]:
        """Per site, the planned calls in which its edit changed a token; the device flags kept since the last
        read are summed here, with one host read."""
        if self._on_device:
            sites = list(self._on_device)
            device = self._on_device[sites[0]].device
            counts = torch.stack([self._on_device[site].to(device) for site in sites]).tolist()
            for site, n in zip(sites, counts):
                self._changed[site] += n
            self._on_device = {}
        return dict(self._changed)

    def _stream_name(self) -> str:
        return "both" if self.choice.img and self.choice.txt else ("img" if self.choice.img else "txt")

    # ------------------------------------------------------------------ install / remove
    def _register(self, module: torch.nn.Module, hook: ModelHook) -> None:
        existed = hasattr(module, "_diffusers_hook")
        registry = HookRegistry.check_if_exists_or_initialize(module)
        if not existed:
            setattr(registry, _CREATED, True)
        registry.register_hook(hook, self.name)
        self._hooked.append(module)

    def _install(self) -> None:
        targets = list(self.sites)
        family = self.info.family
        single_sites = any(s.kind == "single" for s in self.sites)
        if single_sites and family.single_out == "concat" and self.info.num_double:
            targets.append(Site("double", self.info.num_double - 1))  # records the text length
        try:
            for site in dict.fromkeys(targets):
                block = blocks_of(self.transformer, family, site.kind)[site.index]  # type: ignore[index]
                self._register(block, _BlockHook(self, site, steer=site in self.sites))
            self._register(self.transformer, _TransformerHook(self))
        except Exception:
            self.remove()
            raise

    def remove(self) -> None:
        """Remove every hook of this steering; a registry SafeSteer created and left empty goes too, so the
        modules are exactly as before (same ``forward``, no ``_diffusers_hook``)."""
        for module in self._hooked:
            registry = getattr(module, "_diffusers_hook", None)
            if registry is None:
                continue
            registry.remove_hook(self.name, recurse=False)
            if not registry.hooks and getattr(registry, _CREATED, False):
                del module._diffusers_hook
                module.__dict__.pop("forward", None)
        self._hooked = []
        self.state = None

    @property
    def active(self) -> bool:
        return bool(self._hooked)
