"""Install per-site token edits on a clone of a ComfyUI model through its documented patch points.

Used by DiT Safety Steer (a direction), SAE Blend/Repel (an SAE per site) and the activation
recorders of Train Safety SAE / Rank Intervention Sites (an "edit" that records and returns its input).

* Per model call, an ``APPLY_MODEL`` wrapper (present for every architecture) decides whether the
  step is inside the sigma window, asks the :class:`CallPlanner` for the call's plan once and hands
  it to the blocks through a private key of that call's ``transformer_options``. A plan edits token
  spans with ``apply(tokens [B, T, H], start, stop)``; one with a ``for_site(site)`` method gives each
  site its own plan; one with ``finish()`` has it called after the call returns. The blocks count their
  calls on the call's :class:`CallState`, which the wrapper adds to the run's ledger afterwards, so
  under ``TorchCompileModel`` nothing the graph reads changes from one step to the next. Whether a
  site call changed a token is, where only the data can tell (a compiled graph, an accelerator), a 0-d
  tensor the edit returns (``apply_flagged``); the ledger keeps those on the device and reads them once,
  when it reports, so compiled runs report "no gate opened" exactly as eager ones.
* "replace" families: one ``patches_replace["dit"][(kind, i)]`` entry per steered block. A patch
  another node (or pack) already put on that block is wrapped, never replaced: ours calls it as the
  block and steers what it returns.
* Where a block's ``img`` also carries reference or pose tokens (``spec.img_span``: 0.33's Wan
  variants), the img stream is steered by a post-block patch whose payload names the video span
  (:class:`VideoSpanPatch`); the replace patches then only edit the text context.
* "hooks" families (Lumina2, HiDream have no block patch point): a ``DIFFUSION_MODEL`` wrapper
  adds forward hooks on the steered blocks for the duration of one call and removes them after,
  so other users of the shared module never see them. Where the host calls a post-block patch
  with ``block_index`` (0.33's NextDiT), that patch is used instead: capability is seen at run
  time (the patch is called), so the first call of a run uses hooks, later calls the patch.
* No silent no-ops: a block payload the adapter does not expect raises :class:`SafeSteerError` at
  once, and an ``OUTER_SAMPLE`` wrapper checks each sampling run's :class:`RunLedger`: steps inside
  the window whose patched sites never ran (or never edited a token where an edit was due) raise.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

import torch

import comfy.patcher_extension
from steering_core.errors import SafeSteerError
from steering_core.steering.dit import Touched
from steering_core.steering.site_plans import apply_plan, either
from steering_core.steering.sites import Site

from .dit_adapter import DiTModelInfo
from .run_ledger import EXPECTATIONS, LEDGERS_KEY, RunLedger

STATE_PREFIX = "safesteer.dit."


class TokenPlan(Protocol):
    """What one model call does to a block's tokens: ``apply`` returns the edited ``[B, T, H]`` tensor,
    touching only tokens ``start:stop`` (the input itself where nothing changes). A plan may also have
    ``apply_flagged`` returning ``(edited, touched)`` (``steering_core.steering.dit.Touched``)."""

    def apply(self, tokens: torch.Tensor, start: int = 0, stop: int | None = None) -> torch.Tensor: ...


class CallPlanner(Protocol):
    """Makes one :class:`TokenPlan` per model call (or None to leave the call alone)."""

    @property
    def is_identity(self) -> bool: ...

    def prepare_call(self, x: torch.Tensor, sigma: float, context: torch.Tensor | None,
                     cond_or_uncond: list[int] | None) -> TokenPlan | None: ...


@dataclass
class CallState:
    """Per-call state shared by the steered blocks of one model call.

    ``reached``: site calls that ran with the plan; ``edited``: those that changed a token, as a Python count
    (``known_edits``) plus 0-d bool tensors (``flags``) where the edit could not tell without a host read
    (under torch.compile, on an accelerator). All start empty with the call and are added to the run's ledger
    by the ``APPLY_MODEL`` wrapper after it: under torch.compile the blocks are traced, and a counter that
    carried over from call to call would be a guard that fails on every call (a recompile per step); a tensor
    appended to a fresh list is a graph output, read by no guard.
    """

    plan: Any
    txt_len: int | None = None
    img_len: int | None = None
    context_len: int | None = None
    hooked: bool = False
    reached: int = 0
    known_edits: int = 0
    flags: list[torch.Tensor] = field(default_factory=list)

    def plan_at(self, site: Site) -> TokenPlan:
        """The plan for ``site`` (the call's plan, or its per-site plan when it has ``for_site``)."""
        for_site = getattr(self.plan, "for_site", None)
        return for_site(site) if callable(for_site) else self.plan

    def edit(self, site: Site, tokens: torch.Tensor, start: int = 0, stop: int | None = None) -> torch.Tensor:
        """``tokens [B, T, H]`` edited by the plan at ``site`` in ``start:stop``, counted as one site call."""
        new, touched = apply_plan(self.plan_at(site), tokens, start, stop)
        self.count(touched)
        return new

    def count(self, touched: Touched) -> None:
        """Record one site call and whether it changed a token (a tensor flag is kept, not read)."""
        self.reached += 1
        if isinstance(touched, torch.Tensor):
            self.flags.append(touched)
        else:
            self.known_edits += int(touched)

    def pending_edits(self) -> torch.Tensor | None:
        """The tensor flags summed on their device (no host read), or None when there are none."""
        if not self.flags:
            return None
        return torch.stack([f.reshape(()) for f in self.flags]).sum()

    @property
    def edited(self) -> int:
        """Site calls that changed a token (reads the tensor flags: call it after the model call)."""
        pending = self.pending_edits()
        return self.known_edits + (0 if pending is None else int(pending))


@dataclass(frozen=True)
class StreamChoice:
    img: bool
    txt: bool

    @classmethod
    def parse(cls, streams: str) -> "StreamChoice":
        return cls(img=streams in ("img", "both"), txt=streams in ("txt", "both"))


def _state(args: dict[str, Any], key: str) -> CallState | None:
    options = args.get("transformer_options")
    return options.get(key) if isinstance(options, dict) else None


def _steer_single(state: CallState, site: Site, tokens: torch.Tensor, layout: str,
                  streams: StreamChoice) -> torch.Tensor:
    """Steer a single-stream block output ``[B, txt+img, H]`` given the recorded text length (one site call)."""
    total = tokens.shape[1]
    if layout == "txt_first":
        txt_len = state.txt_len
        if txt_len is None:
            state.count(False)
            return tokens
        txt_span, img_span = (0, txt_len), (txt_len, total)
    else:
        img_len = state.img_len if state.img_len is not None else (
            total - state.txt_len if state.txt_len is not None else None)
        if img_len is None:
            state.count(False)
            return tokens
        img_span, txt_span = (0, img_len), (img_len, total)
    if streams.img and streams.txt:
        return state.edit(site, tokens)
    return state.edit(site, tokens, *(img_span if streams.img else txt_span))


def _payload_error(class_name: str, site: Site, what: str, value: Any) -> SafeSteerError:
    kind = type(value).__name__ if not isinstance(value, torch.Tensor) else f"a tensor of shape {tuple(value.shape)}"
    return SafeSteerError(
        f"SafeSteer cannot steer {site} of {class_name}: the block's {what} is {kind}, not the token tensor "
        f"[batch, tokens, hidden] this adapter expects. This model variant is not supported; please report it, and "
        f"use Apply Safety Steering on the CONDITIONING meanwhile.")


def _tokens(value: Any, element: int | None, class_name: str, site: Site, what: str) -> torch.Tensor:
    """The steerable token tensor inside a payload value (``value[element]`` for tuple payloads)."""
    tokens = value
    if element is not None:
        if not isinstance(value, (tuple, list)) or len(value) <= element:
            raise _payload_error(class_name, site, what, value)
        tokens = value[element]
    if not isinstance(tokens, torch.Tensor) or tokens.ndim != 3:
        raise _payload_error(class_name, site, what, value)
    return tokens


def _with_tokens(value: Any, element: int | None, tokens: torch.Tensor) -> Any:
    if element is None:
        return tokens
    items = list(value)
    items[element] = tokens
    return type(value)(items)


class SiteReplace:
    """``patches_replace["dit"]`` callable for one block; wraps the block's previous patch if any.

    Payloads are checked: an ``img`` (or text stream) that is not the expected token tensor raises
    :class:`SafeSteerError` instead of passing through unsteered.
    """

    def __init__(self, key: str, site: Site, info: DiTModelInfo, streams: StreamChoice, steer: bool,
                 previous: Callable[..., dict[str, Any]] | None):
        self.key = key
        self.site = site
        self.class_name = info.class_name
        self.layout = info.spec.single_layout
        self.txt_output = info.spec.txt_output
        self.element = info.spec.img_element
        self.context_key = info.spec.context_key
        self.streams = streams
        self.steer = steer
        self.previous = previous

    def _run_block(self, args: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
        if self.previous is not None:
            return self.previous(args, extra)
        return extra["original_block"](args)

    def _steer_context(self, state: CallState, args: dict[str, Any]) -> dict[str, Any]:
        """Text is a cross-attention input here (Wan, LTXV): steer the context this block reads; only the
        prompt's own tokens (the last context_len), not prepended image-prompt tokens."""
        txt = _tokens(args.get(self.context_key), None, self.class_name, self.site, f"'{self.context_key}' input")
        n = state.context_len or txt.shape[1]
        return {**args, self.context_key: state.edit(self.site, txt, max(0, txt.shape[1] - n), txt.shape[1])}

    def __call__(self, args: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
        state = _state(args, self.key)
        if state is None:
            return self._run_block(args, extra)
        steer_context = self.site.kind == "double" and self.steer and self.streams.txt and not self.txt_output
        if steer_context:
            args = self._steer_context(state, args)
        out = dict(self._run_block(args, extra))
        site, name = self.site, self.class_name
        if site.kind == "double":
            img = _tokens(out.get("img"), self.element, name, site, "'img' output")
            txt = out.get("txt") if self.txt_output else args.get(self.context_key)
            if isinstance(txt, torch.Tensor):
                state.txt_len = int(txt.shape[1])
            state.img_len = int(img.shape[1])
            if not self.steer:
                return out
            if self.streams.img:
                out["img"] = _with_tokens(out["img"], self.element, state.edit(site, img))
            if self.streams.txt and self.txt_output and out.get("txt") is not None:  # None: SD3's last block
                out["txt"] = state.edit(site, _tokens(out.get("txt"), None, name, site, "'txt' output"))
        elif self.steer:
            img = _tokens(out.get("img"), None, name, site, "'img' output")
            out["img"] = _steer_single(state, site, img, self.layout, self.streams)
        return out


def _hook_for(key_state: CallState, site: Site, info: DiTModelInfo, streams: StreamChoice) -> Callable[..., Any]:
    """Forward hook steering a block's output (tuple ``(img, txt)`` or one tensor) for one call."""

    def hook(_module: torch.nn.Module, _inputs: Any, output: Any) -> Any:
        state = key_state
        if isinstance(output, tuple) and len(output) >= 2:
            img, txt = output[0], output[1]
            if isinstance(img, torch.Tensor):
                state.img_len = int(img.shape[1])
            if isinstance(txt, torch.Tensor):
                state.txt_len = int(txt.shape[1])
            plan = state.plan_at(site)
            new_img, img_touched = apply_plan(plan, img) if streams.img and isinstance(img, torch.Tensor) else (img, False)
            new_txt, txt_touched = apply_plan(plan, txt) if streams.txt and isinstance(txt, torch.Tensor) else (txt, False)
            state.count(either(img_touched, txt_touched))
            return (new_img, new_txt, *output[2:])
        if isinstance(output, torch.Tensor):
            return _steer_single(state, site, output, info.spec.single_layout, streams)
        raise _payload_error(info.class_name, site, "output", output)

    return hook


class PostBlockPatch:
    """A post-block patch (``transformer_options["patches"][spec.post_patch]``) steering the split streams
    ``img`` / ``txt`` of site ``("single", block_index)``. ``seen`` turns True once the host calls it, and
    from then on the hooks stand down (one shared object: clones of the model share it)."""

    def __init__(self, key: str, sites: tuple[Site, ...], streams: StreamChoice):
        self.key = key
        self.sites = set(sites)
        self.streams = streams
        self.seen = False

    def __deepcopy__(self, memo: dict[int, Any]) -> "PostBlockPatch":
        return self

    def __call__(self, args: dict[str, Any]) -> dict[str, Any]:
        state = _state(args, self.key)
        if state is None:
            return {}
        self.seen = True
        site = Site("single", int(args["block_index"]))
        if state.hooked or site not in self.sites:
            return {}
        out = {stream: state.edit(site, args[stream])
               for stream, wanted in (("img", self.streams.img), ("txt", self.streams.txt)) if wanted}
        return {k: v for k, v in out.items() if v is not args[k]}


class VideoSpanPatch:
    """A post-block patch (``transformer_options["patches"][spec.post_patch]``) steering the video tokens of
    site ``("double", block_index)`` for families whose ``img`` also carries reference or pose tokens.

    The host's payload names the span: ``img [B, T, H]`` is the block output, ``img_offset`` the number
    of reference tokens before the video, ``x [B, C, F, Hl, Wl]`` the (patch-padded) video latent, so
    the video is ``img[:, img_offset : img_offset + F*Hl*Wl / prod(patch_size)]``; every other token
    (reference, pose) is returned bit-identical. The host reads ``"img"`` back after every patch, so it
    is always returned. A payload that does not add up raises :class:`SafeSteerError`.
    """

    def __init__(self, key: str, sites: tuple[Site, ...], class_name: str, patch_size: tuple[int, ...]):
        self.key = key
        self.sites = set(sites)
        self.class_name = class_name
        self.patch_volume = 1
        for p in patch_size:
            self.patch_volume *= int(p)

    def __deepcopy__(self, memo: dict[int, Any]) -> "VideoSpanPatch":
        return self

    def _span(self, args: dict[str, Any], site: Site, tokens: torch.Tensor) -> tuple[int, int]:
        offset, latent = args.get("img_offset"), args.get("x")
        if not isinstance(offset, int) or not isinstance(latent, torch.Tensor) or latent.ndim != 5:
            shape = tuple(latent.shape) if isinstance(latent, torch.Tensor) else type(latent).__name__
            problem = f"gives img_offset={offset!r} and x={shape}, not a reference-token count and a 5-D video latent"
        else:
            video = latent.shape[2:].numel() // self.patch_volume
            if 0 <= offset and offset + video <= tokens.shape[1]:
                return offset, offset + video
            problem = (f"puts {video} video tokens after {offset} reference tokens, but the block output has "
                       f"{tokens.shape[1]} tokens")
        raise SafeSteerError(
            f"SafeSteer cannot steer {site} of {self.class_name}: its post-block payload {problem}. This model variant "
            f"is not supported; please report it, and use Apply Safety Steering on the CONDITIONING meanwhile.")

    def __call__(self, args: dict[str, Any]) -> dict[str, Any]:
        img = args.get("img")
        state = _state(args, self.key)
        site = Site("double", int(args["block_index"]))
        if state is None or site not in self.sites:
            return {"img": img}
        tokens = _tokens(img, None, self.class_name, site, "'img' output")
        return {"img": state.edit(site, tokens, *self._span(args, site, tokens))}


def _patch_size(dm: torch.nn.Module, class_name: str) -> tuple[int, ...]:
    size = getattr(dm, "patch_size", None)
    if not isinstance(size, (tuple, list)) or not all(isinstance(p, int) and p > 0 for p in size):
        raise SafeSteerError(f"SafeSteer cannot read the patch size of {class_name} (got {size!r}); please report this model.")
    return tuple(size)


def _len_probe(state: CallState) -> Callable[..., None]:
    def probe(_module: torch.nn.Module, _inputs: Any, output: Any) -> None:
        if isinstance(output, torch.Tensor):
            state.txt_len = int(output.shape[1])

    return probe


def install(model: Any, info: DiTModelInfo, planner: CallPlanner, sites: tuple[Site, ...], streams: str,
            sigma_start: float, sigma_end: float, clone: bool = True, what: str = "SafeSteer") -> Any:
    """Return a clone of ``model`` edited at ``sites`` by ``planner``; ``model`` itself is left untouched.

    ``sigma_start >= sigma_end``: steps whose sigma lies in ``[sigma_end, sigma_start]`` are edited.
    ``clone=False`` patches ``model`` in place (only for a clone the caller made and owns).
    ``what`` names the node in no-op errors and reports. The returned model carries the run's
    :class:`RunLedger` (see :func:`nodes.run_ledger.ledgers_of`); a run where the patch could not act raises.
    """
    m = model.clone() if clone else model
    if planner.is_identity:
        return m
    key = STATE_PREFIX + uuid.uuid4().hex
    choice = StreamChoice.parse(streams)
    spec = info.spec
    expects = getattr(planner, "expects", "observe")
    if expects not in EXPECTATIONS:
        raise SafeSteerError(f"planner expectation {expects!r} is not one of {', '.join(EXPECTATIONS)}.")
    ledger = RunLedger(what, info.class_name, ", ".join(str(s) for s in sites), expects)

    def outer_sample_wrapper(executor: Any, *args: Any, **kwargs: Any) -> Any:
        ledger.start()
        out = executor(*args, **kwargs)
        ledger.finish()
        return out

    m.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.OUTER_SAMPLE, key, outer_sample_wrapper)
    m.model_options[LEDGERS_KEY] = [*m.model_options.get(LEDGERS_KEY, []), ledger]

    def apply_model_wrapper(executor: Any, x: torch.Tensor, t: torch.Tensor, c_concat: Any = None,
                            c_crossattn: Any = None, control: Any = None, transformer_options: Any = None,
                            **kwargs: Any) -> Any:
        options = dict(transformer_options or {})
        sigma = float(t.reshape(-1)[0])  # one host read per model call, like ComfyUI's own samplers
        if sigma_end <= sigma <= sigma_start:
            context = c_crossattn if isinstance(c_crossattn, torch.Tensor) else None
            plan = planner.prepare_call(x, sigma, context, options.get("cond_or_uncond"))
            if plan is not None:
                ledger.planned += 1
                context_len = int(context.shape[1]) if context is not None else None
                state = options[key] = CallState(plan, context_len=context_len)
                out = executor(x, t, c_concat, c_crossattn, control, options, **kwargs)
                finish = getattr(plan, "finish", None)
                if callable(finish):
                    finish()
                ledger.add_call(state.reached, state.known_edits, state.pending_edits())
                return out
        return executor(x, t, c_concat, c_crossattn, control, options, **kwargs)

    m.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.APPLY_MODEL, key, apply_model_wrapper)

    if spec.mechanism == "replace" and spec.img_span:
        if choice.img:
            m.set_model_patch(VideoSpanPatch(key, sites, info.class_name, _patch_size(m.model.diffusion_model, info.class_name)),
                              spec.post_patch)
        choice = StreamChoice(img=False, txt=choice.txt)
        if not choice.txt:
            return m
    if spec.mechanism == "replace":
        targets = list(sites)
        if any(s.kind == "single" for s in sites) and info.num_double and not any(s.kind == "double" for s in sites):
            targets.append(Site("double", info.num_double - 1))  # records the text length for single blocks
        dit = m.model_options.get("transformer_options", {}).get("patches_replace", {}).get("dit", {})
        for site in targets:
            block = f"{site.kind}_block"
            patch = SiteReplace(key, site, info, choice, steer=site in sites, previous=dit.get((block, site.index)))
            m.set_model_patch_replace(patch, "dit", block, site.index)
        return m

    post = PostBlockPatch(key, sites, choice) if spec.post_patch else None
    if post is not None:
        m.set_model_patch(post, spec.post_patch)
    dm = m.model.diffusion_model
    containers = {"double": getattr(dm, spec.double_blocks, None) if spec.double_blocks else None,
                  "single": getattr(dm, spec.single_blocks, None) if spec.single_blocks else None}

    def diffusion_model_wrapper(executor: Any, *args: Any, **kwargs: Any) -> Any:
        options = kwargs.get("transformer_options")
        if options is None:
            options = next((a for a in reversed(args) if isinstance(a, dict) and "cond_or_uncond" in a), None)
        state = options.get(key) if isinstance(options, dict) else None
        if state is None or (post is not None and post.seen):
            return executor(*args, **kwargs)
        state.hooked = True
        handles = []
        try:
            refiner = getattr(dm, "context_refiner", None)
            if spec.single_layout == "txt_first" and isinstance(refiner, torch.nn.ModuleList) and len(refiner):
                handles.append(refiner[-1].register_forward_hook(_len_probe(state)))
            for site in sites:
                blocks = containers[site.kind]
                handles.append(blocks[site.index].register_forward_hook(_hook_for(state, site, info, choice)))
            return executor(*args, **kwargs)
        finally:
            for h in handles:
                h.remove()

    m.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.DIFFUSION_MODEL, key, diffusion_model_wrapper)
    return m
