"""Check UI-format (LiteGraph 0.4) ComfyUI workflows against live node definitions; convert them to API prompts.

A workflow saved by the ComfyUI frontend stores each node's widget values **by position**
(``widgets_values``), so a node whose inputs gain, lose or reorder a widget silently shifts every
later value (https://github.com/Comfy-Org/ComfyUI/issues/3547). This module maps a node's
``widgets_values`` onto its current definition, as ``/object_info`` reports it, the way the
frontend (1.32) does on load:

* widgets are the inputs of type INT / FLOAT / STRING / BOOLEAN / COMBO (a V1 option list or a V3
  ``"COMBO"``) without ``forceInput``, in ``input_order`` order (required, then optional);
* a widget converted to an input (linked) keeps its value slot;
* an INT input with ``control_after_generate`` (and, when that option is absent, an INT named
  ``seed`` / ``noise_seed``) is followed by one extra value: fixed / increment / decrement /
  randomize; a COMBO with ``control_after_generate`` by two (that mode, which may also be
  increment-wrap, and a filter string);
* upload combos add the upload widget's value(s): one for ``image_upload`` / ``video_upload``, two
  for ``audio_upload`` (what frontend 1.32 saves; any value is accepted there);
* a V3 dynamic combo (``COMFY_DYNAMICCOMBO_V3``, e.g. SaveVideo's ``format`` on newer hosts) is one
  value, the selected option's key, followed by the widgets of that option's own inputs (named
  ``<combo>.<input>``, the keys the backend reads), recursively; an input marked ``hidden`` is no widget.

What a host declares decides, never its version: trailing *optional* widgets missing from a file
(a node that gained an optional input) take their defaults, as the frontend does on load, and an
output node that gained outputs after the stored ones (newer hosts' SaveImage / PreviewImage pass
their images through) gets them unlinked.

``check_workflow`` returns a list of human-readable problems (empty = the file loads and lines up);
``ui_to_api`` turns a workflow into an API prompt (``{id: {"class_type", "inputs", "_meta"}}``),
the format ``POST /prompt`` and ``execution.validate_prompt`` take. ``object_info_from_host`` builds
the ``/object_info`` answer of an in-process host with the server's own route handler.

Only the standard library is used here, so scripts can import this module without ComfyUI.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: Node types the frontend defines itself (no backend class): notes, reroutes, primitives.
FRONTEND_ONLY = frozenset({"Note", "MarkdownNote", "Reroute", "PrimitiveNode"})
#: Values of the frontend's extra ``control_after_generate`` widget (combos also allow increment-wrap).
CONTROL_VALUES = ("fixed", "increment", "decrement", "randomize")
COMBO_CONTROL_VALUES = (*CONTROL_VALUES, "increment-wrap")
#: Extra frontend widgets (value slots) that upload combos get, by option.
UPLOAD_SLOTS = {"image_upload": 1, "video_upload": 1, "animated_image_upload": 1, "audio_upload": 2}
WIDGET_TYPES = frozenset({"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"})
#: The V3 dynamic combo's socket type in /object_info: a combo whose options carry their own inputs.
DYNAMIC_COMBO = "COMFY_DYNAMICCOMBO_V3"
#: Combo inputs whose options are the user's files (model folders): any string is accepted.
FILE_COMBO_INPUTS = frozenset({
    "ckpt_name", "unet_name", "clip_name", "clip_name1", "clip_name2", "clip_name3", "clip_name4", "vae_name",
    "lora_name", "control_net_name", "style_model_name", "clip_vision_name", "upscale_model_name", "gligen_name",
    "hypernetwork_name", "direction_name", "sae_name",
})
#: Core nodes whose frontend extensions add their own widgets (3D viewers, webcam, recorder...):
#: their widgets_values are not modelled here, so only their count is left unchecked. Every other
#: node type of ComfyUI 0.3.75 (545 of 551 with API nodes) was compared with frontend 1.32.9's
#: serialisation of a freshly created node: same number of values.
UNMODELLED_WIDGETS = frozenset({"Load3D", "Preview3D", "SaveGLB", "LoadImageOutput", "RecordAudio", "WebcamCapture"})
#: Node modes: 0 always, 2 never (muted: left out of the prompt), 4 bypass (inputs passed through).
MODE_ALWAYS, MODE_NEVER, MODE_BYPASS = 0, 2, 4


@dataclass(frozen=True)
class InputSpec:
    """One backend input of a node, as /object_info describes it."""

    name: str
    type: str  # "INT", "FLOAT", "STRING", "BOOLEAN", "COMBO", or a socket type ("MODEL", "*", "A,B")
    options: Mapping[str, Any]
    choices: tuple[Any, ...] | None  # combo options
    required: bool

    @property
    def is_widget(self) -> bool:
        return ((self.type in WIDGET_TYPES or self.is_dynamic_combo) and not self.options.get("forceInput", False)
                and not self.options.get("hidden", False))

    @property
    def is_dynamic_combo(self) -> bool:
        return self.type == DYNAMIC_COMBO

    def option_inputs(self, key: Any) -> list[InputSpec]:
        """A dynamic combo's inputs for the option ``key`` (named ``<combo>.<input>``; none for an unknown key)."""
        option = next((o for o in self.options.get("options", ()) if o.get("key") == key), None)
        if option is None:
            return []
        return [InputSpec(f"{self.name}.{spec.name}", spec.type, spec.options, spec.choices, spec.required and self.required)
                for spec in input_specs({"input": option.get("inputs") or {}})]

    @property
    def default_choice(self) -> Any:
        """The value a fresh widget shows: the declared default, else the first option."""
        return self.options.get("default", (self.choices or (None,))[0])

    @property
    def has_control(self) -> bool:
        """True if the frontend adds a control_after_generate value after this widget."""
        if not self.is_widget or self.type not in ("INT", "COMBO"):
            return False
        if "control_after_generate" in self.options:
            return bool(self.options["control_after_generate"])
        return self.type == "INT" and self.name in ("seed", "noise_seed")

    @property
    def upload_slots(self) -> int:
        """How many upload-widget values the frontend stores after this combo."""
        if not self.is_widget or self.type != "COMBO":
            return 0
        return max((n for key, n in UPLOAD_SLOTS.items() if self.options.get(key)), default=0)

    @property
    def is_file_combo(self) -> bool:
        """Options are the user's files (model folders, uploads): any string is accepted."""
        return self.type == "COMBO" and (self.name in FILE_COMBO_INPUTS or self.upload_slots > 0)


#: WidgetSlot kinds: the input's own value, the frontend's control_after_generate mode, its combo
#: filter string (control_filter_list), an upload widget's value.
VALUE, CONTROL, FILTER, UPLOAD = "value", "control_after_generate", "control_filter_list", "upload"


@dataclass(frozen=True)
class WidgetSlot:
    """One position in ``widgets_values``: a widget input, or a frontend widget that follows it."""

    name: str
    spec: InputSpec
    kind: str = VALUE

    @property
    def control(self) -> bool:
        """True for a frontend-only slot (no backend input value)."""
        return self.kind != VALUE

    @property
    def label(self) -> str:
        return self.name if self.kind == VALUE else f"{self.name}.{self.kind}"


def input_specs(info: Mapping[str, Any]) -> list[InputSpec]:
    """The node's inputs in the frontend's order: ``input_order`` required, then optional (hidden skipped)."""
    specs: list[InputSpec] = []
    declared = info.get("input", {})
    order = info.get("input_order") or {sec: list(declared.get(sec, {})) for sec in ("required", "optional")}
    for section in ("required", "optional"):
        entries = declared.get(section, {}) or {}
        for name in order.get(section, []) or []:
            raw = entries.get(name)
            if raw is None:
                continue
            raw_type = raw[0] if isinstance(raw, (list, tuple)) else raw
            options = raw[1] if isinstance(raw, (list, tuple)) and len(raw) > 1 and isinstance(raw[1], dict) else {}
            choices = None
            if isinstance(raw_type, (list, tuple)):
                choices, type_name = tuple(raw_type), "COMBO"
            else:
                type_name = str(raw_type)
                if type_name == "COMBO":
                    choices = tuple(options.get("options", ()))
                elif type_name == DYNAMIC_COMBO:
                    choices = tuple(o.get("key") for o in options.get("options", ()))
            specs.append(InputSpec(name, type_name, options, choices, section == "required"))
    return specs


def widget_layout(info: Mapping[str, Any], values: list[Any] | None = None) -> list[WidgetSlot]:
    """The expected ``widgets_values`` positions of a node, in order. A dynamic combo expands into the
    option ``values`` selects at its position (its default option when ``values`` is None or short)."""
    slots: list[WidgetSlot] = []
    _append_layout(input_specs(info), values, slots)
    return slots


def _append_layout(specs: list[InputSpec], values: list[Any] | None, slots: list[WidgetSlot]) -> None:
    for spec in specs:
        if not spec.is_widget:
            continue
        slots.append(WidgetSlot(spec.name, spec))
        if spec.is_dynamic_combo:
            at = len(slots) - 1
            key = values[at] if values is not None and at < len(values) else spec.default_choice
            _append_layout(spec.option_inputs(key), values, slots)
            continue
        if spec.has_control:
            slots.append(WidgetSlot(spec.name, spec, CONTROL))
            if spec.type == "COMBO":
                slots.append(WidgetSlot(spec.name, spec, FILTER))
        slots += [WidgetSlot(spec.name, spec, UPLOAD)] * spec.upload_slots


def missing_defaults_ok(layout: list[WidgetSlot], count: int) -> bool:
    """True when a file's ``count`` values cover every slot but trailing optional ones (they take defaults)."""
    return count <= len(layout) and all(not slot.spec.required for slot in layout[count:])


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _short(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_value(slot: WidgetSlot, value: Any) -> str | None:
    """Why ``value`` cannot be the value of ``slot`` (None if it can)."""
    spec = slot.spec
    if slot.kind == CONTROL:
        allowed = COMBO_CONTROL_VALUES if spec.type == "COMBO" else CONTROL_VALUES
        return None if value in allowed else f"must be one of {', '.join(allowed)}"
    if slot.kind == FILTER:
        return None if isinstance(value, str) else "must be a string"
    if slot.kind == UPLOAD:
        return None
    if spec.type == "INT":
        if not _is_number(value) or (isinstance(value, float) and not value.is_integer()):
            return "must be an integer"
    elif spec.type == "FLOAT":
        if not _is_number(value):
            return "must be a number"
    elif spec.type == "STRING":
        if not isinstance(value, str):
            return "must be a string"
    elif spec.type == "BOOLEAN":
        if not isinstance(value, bool):
            return "must be true or false"
    elif spec.type in ("COMBO", DYNAMIC_COMBO):
        if spec.is_file_combo:
            return None if isinstance(value, str) else "must be a file name (string)"
        if value not in (spec.choices or ()):
            shown = ", ".join(map(str, (spec.choices or ())[:12]))
            return f"is not one of the options ({shown}{', ...' if len(spec.choices or ()) > 12 else ''})"
    if spec.type in ("INT", "FLOAT"):
        lo, hi = spec.options.get("min"), spec.options.get("max")
        if lo is not None and value < lo:
            return f"is below min {lo}"
        if hi is not None and value > hi:
            return f"is above max {hi}"
    return None


def _types_match(output_type: str, input_type: str) -> bool:
    """ComfyUI's rule (``execution.validate_node_input``): '*' matches all, 'A,B' unions, else equality."""
    if output_type == "*" or input_type == "*" or output_type == input_type:
        return True
    outs = {t.strip() for t in str(output_type).split(",")}
    ins = {t.strip() for t in str(input_type).split(",")}
    return bool(outs & ins) if ("," in output_type or "," in input_type) else False


def _node_label(node: Mapping[str, Any]) -> str:
    return f"node {node.get('id')} ({node.get('type')})"


def check_workflow(workflow: Mapping[str, Any], object_info: Mapping[str, Any]) -> list[str]:
    """Every problem that would make ``workflow`` load wrongly in a frontend serving ``object_info``.

    Checked: top-level keys and node keys; node types exist (frontend-only types allowed);
    inputs/outputs name real sockets with the right types; links are consistent on both ends and
    their types match the backend's output and input types; ``widgets_values`` has exactly one value
    per widget (plus control_after_generate values) in ``input_order`` order, each of the right
    type, inside min/max and among the combo options (any string for model-file combos); every
    required non-widget input of an active node is linked.
    """
    problems: list[str] = []
    for key in ("last_node_id", "last_link_id", "nodes", "links", "version"):
        if key not in workflow:
            problems.append(f"workflow has no '{key}'")
    if problems:
        return problems
    nodes = {node.get("id"): node for node in workflow["nodes"]}
    if len(nodes) != len(workflow["nodes"]):
        problems.append("node ids are not unique")
    if nodes and max(nodes) > workflow["last_node_id"]:
        problems.append(f"last_node_id {workflow['last_node_id']} is below the highest node id {max(nodes)}")

    links: dict[int, list[Any]] = {}
    for link in workflow["links"]:
        if not isinstance(link, list) or len(link) != 6:
            problems.append(f"link {_short(link)} is not [id, from_node, from_slot, to_node, to_slot, type]")
            continue
        if link[0] in links:
            problems.append(f"link id {link[0]} is used twice")
        links[link[0]] = link
    if links and max(links) > workflow["last_link_id"]:
        problems.append(f"last_link_id {workflow['last_link_id']} is below the highest link id {max(links)}")

    for node in workflow["nodes"]:
        problems += _check_node(node, object_info, links)
    for link in links.values():
        problems += _check_link(link, nodes, object_info)
    return problems


def _check_node(node: Mapping[str, Any], object_info: Mapping[str, Any], links: Mapping[int, list[Any]]) -> list[str]:
    label = _node_label(node)
    out: list[str] = []
    missing = [k for k in ("id", "type", "pos", "size", "flags", "order", "mode", "inputs", "outputs", "properties")
               if k not in node]
    if missing:
        out.append(f"{label}: missing keys {missing}")
    node_type = node.get("type")
    for slot_list in ("inputs", "outputs"):
        for i, entry in enumerate(node.get(slot_list) or []):
            if slot_list == "inputs" and entry.get("link") is not None and entry["link"] not in links:
                out.append(f"{label}: input '{entry.get('name')}' points at link {entry['link']}, which does not exist")
            if slot_list == "outputs":
                for lid in entry.get("links") or []:
                    if lid not in links:
                        out.append(f"{label}: output {i} lists link {lid}, which does not exist")
    if node_type in FRONTEND_ONLY:
        if node_type in ("Note", "MarkdownNote"):
            values = node.get("widgets_values")
            if not (isinstance(values, list) and len(values) == 1 and isinstance(values[0], str)):
                out.append(f"{label}: a note needs widgets_values [text]")
        return out
    info = object_info.get(node_type)
    if info is None:
        return [*out, (f"{label}: node type '{node_type}' does not exist in this ComfyUI "
                      f"(not a core node nor one of the installed packs)")]

    specs = {spec.name: spec for spec in input_specs(info)}
    linked_names = set()
    for entry in node.get("inputs") or []:
        name = entry.get("name")
        spec = specs.get(name)
        if spec is None:
            out.append(f"{label}: has an input '{name}' that {node_type} no longer declares "
                       f"(inputs now: {', '.join(specs)})")
            continue
        if entry.get("link") is not None:
            linked_names.add(name)
        if spec.is_widget and entry.get("widget", {}).get("name") != name:
            out.append(f"{label}: input '{name}' is a widget; its inputs entry needs \"widget\": {{\"name\": \"{name}\"}}")
        if not spec.is_widget and "widget" in entry:
            out.append(f"{label}: input '{name}' is a socket, not a widget, but its entry has a 'widget' key")
        if not _types_match(str(entry.get("type")), spec.type):
            out.append(f"{label}: input '{name}' is stored as type {entry.get('type')} but {node_type} takes {spec.type}")

    if node.get("mode", MODE_ALWAYS) != MODE_NEVER:
        for spec in specs.values():
            if spec.required and not spec.is_widget and spec.name not in linked_names:
                out.append(f"{label}: required input '{spec.name}' ({spec.type}) is not linked")

    outputs = list(info.get("output") or [])
    names = list(info.get("output_name") or outputs)
    stored = node.get("outputs") or []
    gained = info.get("output_node") and len(stored) < len(outputs)   # new outputs after the stored ones
    if len(stored) != len(outputs) and not gained:
        out.append(f"{label}: {len(stored)} outputs stored, {node_type} has {len(outputs)} ({', '.join(map(str, names))})")
    for i, (entry, want) in enumerate(zip(stored, outputs)):
        if entry.get("type") != want:
            out.append(f"{label}: output {i} ('{entry.get('name')}') is stored as {entry.get('type')}, "
                       f"{node_type} now returns {want} ('{names[i]}') there")

    values = node.get("widgets_values", [])
    if node_type in UNMODELLED_WIDGETS:
        return out
    if not isinstance(values, list):
        return out + [f"{label}: widgets_values must be a list, got {type(values).__name__}"]
    layout = widget_layout(info, values)
    if len(values) != len(layout) and not missing_defaults_ok(layout, len(values)):
        expected = ", ".join(slot.label for slot in layout) or "none"
        first = next(((i, slot, value) for i, (slot, value) in enumerate(zip(layout, values))
                      if check_value(slot, value)), None)
        hint = ""
        if first is not None:
            i, slot, value = first
            hint = f"; first value out of line: widgets_values[{i}] = {_short(value)} where '{slot.label}' {check_value(slot, value)}"
        out.append(f"{label}: widgets_values has {len(values)} values but {node_type} has {len(layout)} widget "
                   f"slots ({expected}); got {_short(values, 200)}{hint}")
        return out
    for i, (slot, value) in enumerate(zip(layout, values)):
        why = check_value(slot, value)
        if why:
            out.append(f"{label}: widgets_values[{i}] = {_short(value)} for '{slot.label}' ({slot.spec.type}) {why}")
    return out


def _check_link(link: list[Any], nodes: Mapping[Any, Mapping[str, Any]], object_info: Mapping[str, Any]) -> list[str]:
    lid, src_id, src_slot, dst_id, dst_slot, link_type = link
    src, dst = nodes.get(src_id), nodes.get(dst_id)
    if src is None or dst is None:
        return [f"link {lid}: {'source' if src is None else 'target'} node {src_id if src is None else dst_id} does not exist"]
    out: list[str] = []
    src_outputs, dst_inputs = src.get("outputs") or [], dst.get("inputs") or []
    if not (0 <= src_slot < len(src_outputs)):
        return [f"link {lid}: {_node_label(src)} has no output slot {src_slot}"]
    if not (0 <= dst_slot < len(dst_inputs)):
        return [f"link {lid}: {_node_label(dst)} has no input slot {dst_slot}"]
    out_entry, in_entry = src_outputs[src_slot], dst_inputs[dst_slot]
    if lid not in (out_entry.get("links") or []):
        out.append(f"link {lid}: not listed in {_node_label(src)} output {src_slot} links")
    if in_entry.get("link") != lid:
        out.append(f"link {lid}: {_node_label(dst)} input '{in_entry.get('name')}' holds link {in_entry.get('link')}")
    if out_entry.get("type") != link_type and src.get("type") not in ("Reroute", "PrimitiveNode"):
        out.append(f"link {lid}: type {link_type} differs from {_node_label(src)} output type {out_entry.get('type')}")

    src_type = out_entry.get("type")
    src_info = object_info.get(src.get("type"))
    if src_info is not None and src_slot < len(src_info.get("output") or []):
        src_type = src_info["output"][src_slot]
    dst_info = object_info.get(dst.get("type"))
    if dst_info is not None:
        spec = next((s for s in input_specs(dst_info) if s.name == in_entry.get("name")), None)
        if spec is not None and not _types_match(str(src_type), spec.type):
            out.append(f"link {lid}: {_node_label(src)} output {src_slot} ({src_type}) cannot feed "
                       f"{_node_label(dst)} input '{spec.name}' ({spec.type})")
    return out


# --------------------------------------------------------------------------------------------
# UI workflow -> API prompt
# --------------------------------------------------------------------------------------------


class ConversionError(ValueError):
    """The workflow cannot be turned into an API prompt (unknown node, misaligned widgets...)."""


def widget_values_by_name(node: Mapping[str, Any], info: Mapping[str, Any]) -> dict[str, Any]:
    """{widget name: value} from a node's positional ``widgets_values`` (control values dropped)."""
    if node.get("type") in UNMODELLED_WIDGETS:
        raise ConversionError(f"{_node_label(node)}: this node's frontend widgets are not modelled; export the "
                              f"workflow as API from the ComfyUI frontend instead")
    values = node.get("widgets_values") or []
    layout = widget_layout(info, values)
    if len(values) != len(layout) and not missing_defaults_ok(layout, len(values)):
        raise ConversionError(f"{_node_label(node)}: {len(values)} widgets_values for {len(layout)} widget slots "
                              f"({', '.join(s.label for s in layout)}); run check_workflow for details")
    return {slot.name: value for slot, value in zip(layout, values) if not slot.control}


def ui_to_api(workflow: Mapping[str, Any], object_info: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The API prompt the frontend would queue for ``workflow`` ({id: {class_type, inputs, _meta}}).

    Notes are left out, muted nodes (mode 2) too; links are resolved through Reroute nodes and
    bypassed nodes (mode 4: the input of the same type is passed through, same slot first), and a
    PrimitiveNode's value is written into the widget it feeds. Widget values are read by position
    (see :func:`widget_values_by_name`); a linked widget takes the link instead.

    Checked against the real frontend (1.32.9, ``app.graphToPrompt()`` in headless Chromium) on the
    six workflows in workflows/: identical class types and inputs, except that the frontend also
    sends the display-only ``preview`` widget of PreviewAny (ignored by the backend) and may use a
    localized title in ``_meta``.
    """
    nodes = {node["id"]: node for node in workflow["nodes"]}
    links = {link[0]: link for link in workflow["links"]}

    def resolve(link_id: int, depth: int = 0) -> tuple[str, Any] | None:
        """('link', [id, slot]) or ('value', v) for what arrives over ``link_id``; None if nothing does."""
        if depth > 64:
            raise ConversionError(f"link {link_id}: reroute/bypass chain too long (a cycle?)")
        link = links.get(link_id)
        if link is None:
            raise ConversionError(f"link {link_id} does not exist")
        _, src_id, src_slot, _, _, _ = link
        src = nodes[src_id]
        if src.get("type") == "Reroute" or (src.get("mode") == MODE_BYPASS and src.get("type") not in FRONTEND_ONLY):
            candidates = src.get("inputs") or []
            if src.get("type") != "Reroute":
                want = (src.get("outputs") or [])[src_slot].get("type")
                same = [candidates[src_slot]] if src_slot < len(candidates) and candidates[src_slot].get("type") == want else []
                candidates = same + [c for c in candidates if c.get("type") == want]
            for entry in candidates:
                if entry.get("link") is not None:
                    return resolve(entry["link"], depth + 1)
            return None
        if src.get("type") == "PrimitiveNode":
            values = src.get("widgets_values") or []
            if not values:
                raise ConversionError(f"{_node_label(src)} has no value")
            return ("value", values[0])
        if src.get("mode") == MODE_NEVER:
            return None
        if src.get("type") in FRONTEND_ONLY:
            raise ConversionError(f"{_node_label(src)} cannot feed a link")
        return ("link", [str(src_id), src_slot])

    prompt: dict[str, dict[str, Any]] = {}
    for node in sorted(workflow["nodes"], key=lambda n: (n.get("order", 0), n["id"])):
        node_type = node.get("type")
        if node_type in FRONTEND_ONLY or node.get("mode", MODE_ALWAYS) in (MODE_NEVER, MODE_BYPASS):
            continue
        info = object_info.get(node_type)
        if info is None:
            raise ConversionError(f"{_node_label(node)}: node type '{node_type}' does not exist in this ComfyUI")
        inputs: dict[str, Any] = dict(widget_values_by_name(node, info))
        for entry in node.get("inputs") or []:
            if entry.get("link") is None:
                continue
            got = resolve(entry["link"])
            if got is not None:
                inputs[entry["name"]] = got[1]
            elif not entry.get("widget"):
                inputs.pop(entry["name"], None)  # nothing arrives (muted source): the input is left out
        prompt[str(node["id"])] = {
            "inputs": inputs,
            "class_type": node_type,
            "_meta": {"title": node.get("title") or info.get("display_name") or node_type},
        }
    return prompt


# --------------------------------------------------------------------------------------------
# Node definitions
# --------------------------------------------------------------------------------------------


def object_info_from_host(prompt_server: Any, loop: Any) -> dict[str, Any]:
    """``GET /object_info`` of an in-process ComfyUI, answered by the server's own route handler.

    In 0.3.75 the builder (``node_info``) is a closure inside ``PromptServer.__init__``, reachable
    only through the route table (``prompt_server.routes``); its handler ignores the request.
    """
    for route in prompt_server.routes:
        if getattr(route, "method", None) == "GET" and getattr(route, "path", None) == "/object_info":
            response = loop.run_until_complete(route.handler(None))
            return json.loads(response.text)
    raise LookupError("the PromptServer has no GET /object_info route")
