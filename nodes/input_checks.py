"""Every SafeSteer node checks its own inputs against the V3 schema it declares, on every host.

ComfyUI validates widget values it can see before a run, but not values that arrive through a link
(a Strength Sweep's 1000 reaching a slider of max 4), not NaN (``NaN < min`` is False), and 0.3.75
does not check combo values of V3 nodes at all. :func:`checked` wraps a node class's ``execute`` so
that, before the node runs, every value it receives is checked against its declared input:

- Float: a real number (not bool), finite, inside ``[min, max]``;
- Int: an integer (not bool), inside ``[min, max]``;
- Boolean: a bool;
- Combo: one of the options the node offers now;
- String: a str, no NUL character, at most :data:`MAX_LINE` characters (:data:`MAX_TEXT` multiline).

Values of an ``is_input_list`` node are lists; each element is checked. A failure is a
``SafeSteerError`` naming the node, the input, the value (escaped, shortened) and the fix. Errors the
node itself raises that are not SafeSteer's (an ``OSError`` from the file system, any message a log
could not encode) become a ``SafeSteerError`` with the text escaped, so no message can break
ComfyUI's logger.
"""

from __future__ import annotations

import functools
import inspect
import math
from typing import Any, Callable

from comfy_api.latest import io

from steering_core.errors import SafeSteerError, printable

MAX_LINE = 4096
MAX_TEXT = 1 << 20
_MARK = "_safesteer_checked"


def _shown(value: Any) -> str:
    return printable(repr(value), 60)


def _number(node: str, spec: Any, value: Any, integer: bool) -> None:
    kind = "an integer" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not float(value).is_integer()):
        raise SafeSteerError(f"{node}: input {spec.id!r} must be {kind}, got {_shown(value)}; "
                             f"set a number{_range(spec)}.")
    if not math.isfinite(value):
        raise SafeSteerError(f"{node}: input {spec.id!r} is {value}; set a finite number{_range(spec)} "
                             "(a linked value must be finite too).")
    low, high = getattr(spec, "min", None), getattr(spec, "max", None)
    if (low is not None and value < low) or (high is not None and value > high):
        raise SafeSteerError(f"{node}: input {spec.id!r} = {value:g} is outside the node's range; set it{_range(spec)} "
                             "(a linked value, e.g. from Safety Strength Sweep, must lie in that range too).")


def _range(spec: Any) -> str:
    low, high = getattr(spec, "min", None), getattr(spec, "max", None)
    if low is not None and high is not None:
        return f" between {low:g} and {high:g}"
    if low is not None:
        return f" of at least {low:g}"
    if high is not None:
        return f" of at most {high:g}"
    return ""


def check_value(node: str, spec: Any, value: Any) -> None:
    """Raise SafeSteerError unless ``value`` is one the declared input ``spec`` offers."""
    if isinstance(spec, io.Float.Input):
        _number(node, spec, value, integer=False)
    elif isinstance(spec, io.Int.Input):
        _number(node, spec, value, integer=True)
    elif isinstance(spec, io.Boolean.Input):
        if not isinstance(value, bool):
            raise SafeSteerError(f"{node}: input {spec.id!r} must be true or false, got {_shown(value)}.")
    elif isinstance(spec, io.Combo.Input):
        options = list(spec.options or [])
        if value not in options:
            listed = ", ".join(printable(o, 40) for o in options[:12]) + (", ..." if len(options) > 12 else "")
            hint = (f"choose one of: {listed}" if options else
                    "none is available; put a file in the node's folder and refresh the node list")
            raise SafeSteerError(f"{node}: input {spec.id!r} = {_shown(value)} is not one of the node's choices; {hint}.")
    elif isinstance(spec, io.String.Input):
        limit = MAX_TEXT if spec.multiline else MAX_LINE
        if not isinstance(value, str):
            raise SafeSteerError(f"{node}: input {spec.id!r} must be text, got {_shown(value)}.")
        if len(value) > limit or "\x00" in value:
            raise SafeSteerError(f"{node}: input {spec.id!r} is over {limit} characters or holds a NUL character; "
                                 "shorten it.")


def check_inputs(schema: io.Schema, values: dict[str, Any]) -> None:
    """Check every value given for a widget input of ``schema`` (absent optional inputs are skipped)."""
    node = schema.display_name or schema.node_id
    for spec in schema.inputs:
        if spec.id not in values or values[spec.id] is None:
            continue
        value = values[spec.id]
        items = value if schema.is_input_list and isinstance(value, list) else [value]
        for item in items:
            check_value(node, spec, item)


def _unprintable(exc: BaseException) -> bool:
    """Whether ``exc`` or any exception chained to it has text a logger could not encode."""
    seen: set[int] = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        text = str(link)
        if printable(text, 1 << 30) != text:
            return True
        link = link.__cause__ or link.__context__
    return False


def _rewrap(node: str, exc: Exception) -> Exception | None:
    """A SafeSteerError for an error that would reach the user raw or break a log, else None (re-raise).

    ComfyUI logs the whole traceback, chained exceptions included, so a chain holding a non-UTF-8 file
    name is replaced by one clean error (``from None``).
    """
    text = str(exc)
    if _unprintable(exc):
        return SafeSteerError(text if isinstance(exc, SafeSteerError) else f"{node}: {type(exc).__name__}: {text}")
    if isinstance(exc, SafeSteerError):
        return None
    if isinstance(exc, OSError) and exc.errno is None:  # an OSError SafeSteer raised with its own message
        return SafeSteerError(f"{node}: {text}")
    if isinstance(exc, OSError):
        return SafeSteerError(f"{node}: the file system refused ({printable(text, 200)}); check the file name "
                              "and that its folder is writable.")
    return None


def checked(node_cls: type[io.ComfyNode]) -> type[io.ComfyNode]:
    """Make ``node_cls.execute`` check its inputs first (idempotent); returns the class."""
    if getattr(node_cls, _MARK, False):
        return node_cls
    # the plain function, called with the class ComfyUI runs (V3 runs a clone carrying the hidden inputs)
    run: Callable[..., Any] = inspect.unwrap(inspect.getattr_static(node_cls, "execute").__func__)

    signature = inspect.signature(run)

    def before(cls: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
        values = dict(kwargs)
        if args:  # a direct call (scripts, tests) may pass inputs by position
            bound = signature.bind_partial(cls, *args, **kwargs).arguments
            values = {k: v for k, v in list(bound.items())[1:]}
        schema = node_cls.define_schema()  # fresh: file combos list the folder as it is now
        check_inputs(schema, values)
        return schema.display_name or schema.node_id

    if inspect.iscoroutinefunction(run):
        @functools.wraps(run)
        async def execute_async(cls: Any, *args: Any, **kwargs: Any) -> Any:
            name = before(cls, args, kwargs)
            try:
                return await run(cls, *args, **kwargs)
            except Exception as exc:
                rewrapped = _rewrap(name, exc)
                if rewrapped is None:
                    raise
                raise rewrapped from None
        node_cls.execute = classmethod(execute_async)  # type: ignore[method-assign,assignment]
    else:
        @functools.wraps(run)
        def execute(cls: Any, *args: Any, **kwargs: Any) -> Any:
            name = before(cls, args, kwargs)
            try:
                return run(cls, *args, **kwargs)
            except Exception as exc:
                rewrapped = _rewrap(name, exc)
                if rewrapped is None:
                    raise
                raise rewrapped from None
        node_cls.execute = classmethod(execute)  # type: ignore[method-assign,assignment]
    setattr(node_cls, _MARK, True)
    return node_cls
