"""Workflow templates: an API-format ComfyUI prompt with placeholders the harness fills per item.

Two ways to mark what changes per item, usable together:

* **Placeholders** inside string input values: ``{{prompt}}``, ``{{negative}}``, ``{{seed}}``,
  ``{{guidance}}``, ``{{strength}}``, ``{{index}}`` (the prompt's row number), ``{{categories}}``,
  ``{{width}}``, ``{{height}}``, and ``{{<column>}}`` for any other column of the prompt file.
  A value that is exactly one numeric placeholder (``"seed": "{{seed}}"``) becomes a number
  (int for seed/index/width/height, float for guidance/strength); inside longer text
  (``"text": "a photo, {{prompt}}"``) the value is pasted as text.
* **Bindings** ``NAME=NODE.INPUT`` (``strength=12.strength``, ``prompt=6.text``): set that input of
  that node to the value, typed as above, whatever the template holds there.

The template must be in API format (``Export (API)`` in the ComfyUI menu; ``{"<id>": {"class_type",
"inputs"}}``, optionally wrapped as ``{"prompt": {...}}``). The images are read from the outputs of
the image nodes: ``SaveImage`` / ``PreviewImage`` nodes found in the template, or the node ids given.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import printable, show_path
from .errors import EvaluationError

PLACEHOLDER_RE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
INT_FIELDS = frozenset({"seed", "index", "width", "height"})
FLOAT_FIELDS = frozenset({"guidance", "strength"})
STANDARD_FIELDS = ("prompt", "negative", "seed", "guidance", "strength", "index", "categories", "width", "height")
IMAGE_NODE_TYPES = ("SaveImage", "PreviewImage")


@dataclass(frozen=True)
class Binding:
    """``name`` goes into input ``input`` of node ``node``."""

    name: str
    node: str
    input: str

    @classmethod
    def parse(cls, text: str) -> Binding:
        name, sep, target = text.partition("=")
        node, dot, inp = target.strip().rpartition(".")
        if not sep or not dot or not name.strip() or not node or not inp:
            raise EvaluationError(f"binding {text!r}: write it as NAME=NODE.INPUT (for example strength=12.strength or prompt=6.text).")
        return cls(name.strip(), node.strip(), inp.strip())

    def __str__(self) -> str:
        return f"{self.name}={self.node}.{self.input}"


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_json(value: Any) -> str:
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()


def _typed(name: str, value: Any) -> Any:
    if value is None:
        return None
    if name in INT_FIELDS:
        return int(value)
    if name in FLOAT_FIELDS:
        return float(value)
    return value


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value)) if abs(value) < 1e15 else repr(value)
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return str(value)


class WorkflowTemplate:
    """An API-format prompt plus bindings; :meth:`fill` gives the prompt for one item."""

    def __init__(self, graph: Mapping[str, Any], *, bindings: Sequence[Binding | str] = (),
                 image_nodes: Sequence[str] | None = None, source: str = "<template>"):
        self.source = source
        self.graph = self._check_graph(graph, source)
        self.bindings = [b if isinstance(b, Binding) else Binding.parse(b) for b in bindings]
        for b in self.bindings:
            node = self.graph.get(b.node)
            if node is None:
                raise EvaluationError(f"binding {b}: the template {source} has no node {b.node!r} (its nodes: {', '.join(self.graph)}).")
            if b.input not in node.get("inputs", {}):
                raise EvaluationError(
                    f"binding {b}: node {b.node} ({node.get('class_type')}) has no input {b.input!r} "
                    f"(its inputs: {', '.join(node.get('inputs', {}))})."
                )
            value = node["inputs"][b.input]
            if isinstance(value, list) and len(value) == 2 and isinstance(value[1], int):
                raise EvaluationError(f"binding {b}: input {b.input!r} of node {b.node} is a link, not a value.")
        self.image_nodes = self._pick_image_nodes(image_nodes)

    # -- construction -----------------------------------------------------------------------------

    @classmethod
    def load(cls, path: str | os.PathLike[str], **kwargs: Any) -> WorkflowTemplate:
        file_path = Path(path)
        if not file_path.is_file():
            raise EvaluationError(f"workflow template {show_path(file_path)} does not exist or is not a file; check the "
                                  "--template path.")
        if file_path.stat().st_size > 64 << 20:
            raise EvaluationError(f"workflow template {show_path(file_path)} is over 64 MiB; export the workflow again "
                                  "with ComfyUI's Export (API).")
        try:
            graph = json.loads(file_path.read_text(encoding="utf-8-sig"))
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
            raise EvaluationError(f"workflow template {show_path(file_path)} is not valid JSON ({printable(exc, 120)}); "
                                  "export it again with ComfyUI's Export (API).") from None
        return cls(graph, source=str(file_path), **kwargs)

    @staticmethod
    def _check_graph(graph: Any, source: str) -> dict[str, Any]:
        if isinstance(graph, Mapping) and isinstance(graph.get("prompt"), Mapping) and "class_type" not in graph:
            graph = graph["prompt"]
        if isinstance(graph, Mapping) and isinstance(graph.get("nodes"), list) and "links" in graph:
            raise EvaluationError(
                f"{source} is a UI-format workflow (what 'Save' writes: nodes and links). The harness needs the API format: "
                "in ComfyUI use Workflow > Export (API) (older frontends: enable dev mode options, then 'Save (API Format)') "
                "and pass that file."
            )
        if not isinstance(graph, Mapping) or not graph:
            raise EvaluationError(f"{source} is not an API-format ComfyUI prompt ({{\"<id>\": {{\"class_type\", \"inputs\"}}}}); export it with "
                                  "ComfyUI's Workflow > Export (API).")
        out: dict[str, Any] = {}
        for node_id, node in graph.items():
            if not isinstance(node, Mapping) or "class_type" not in node:
                raise EvaluationError(f"{source}: node {node_id!r} has no class_type; is this an API-format prompt?")
            out[str(node_id)] = copy.deepcopy(dict(node, inputs=dict(node.get("inputs", {}))))
        return out

    def _pick_image_nodes(self, image_nodes: Sequence[str] | None) -> list[str]:
        if image_nodes:
            ids = [str(n) for n in image_nodes]
            missing = [n for n in ids if n not in self.graph]
            if missing:
                raise EvaluationError(f"image node(s) {missing} are not in the template {self.source} (its nodes: {', '.join(self.graph)}).")
            return ids
        found = [nid for nid, node in self.graph.items() if node["class_type"] in IMAGE_NODE_TYPES]
        if not found:
            raise EvaluationError(
                f"the template {self.source} has no SaveImage or PreviewImage node: add one after the decoder, "
                "or name the node whose images to collect (--image-node ID)."
            )
        if len(found) > 1:
            desc = ", ".join(f"{n} ({self.graph[n]['class_type']})" for n in found)
            raise EvaluationError(f"the template {self.source} has several image nodes ({desc}); choose with --image-node ID.")
        return found

    # -- inspection ---------------------------------------------------------------------------------

    @property
    def sha256(self) -> str:
        """Hash of the template graph, the bindings and the image nodes."""
        return sha256_json({"graph": self.graph, "bindings": [str(b) for b in self.bindings], "image_nodes": self.image_nodes})

    def placeholders(self) -> set[str]:
        """Every name the template uses (placeholders in any string value, and bindings)."""
        names: set[str] = {b.name for b in self.bindings}

        def walk(value: Any) -> None:
            if isinstance(value, str):
                names.update(PLACEHOLDER_RE.findall(value))
            elif isinstance(value, Mapping):
                for v in value.values():
                    walk(v)
            elif isinstance(value, list):
                for v in value:
                    walk(v)

        for node in self.graph.values():
            walk(node.get("inputs", {}))
        return names

    # -- filling -----------------------------------------------------------------------------------

    def fill(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """The prompt with every placeholder and binding replaced; unknown names raise."""
        missing = sorted(n for n in self.placeholders() if values.get(n) is None)
        if missing:
            raise EvaluationError(
                f"the template {self.source} uses {', '.join('{{' + m + '}}' for m in missing)} but no value was given "
                f"(known: {', '.join(sorted(k for k, v in values.items() if v is not None))})."
            )

        def sub(value: Any) -> Any:
            if isinstance(value, str):
                whole = PLACEHOLDER_RE.fullmatch(value.strip())
                if whole and (whole.group(1) in INT_FIELDS or whole.group(1) in FLOAT_FIELDS):
                    return _typed(whole.group(1), values[whole.group(1)])
                if whole:
                    return _text(values[whole.group(1)]) if not isinstance(values[whole.group(1)], str) else values[whole.group(1)]
                return PLACEHOLDER_RE.sub(lambda m: _text(values[m.group(1)]), value)
            if isinstance(value, Mapping):
                return {k: sub(v) for k, v in value.items()}
            if isinstance(value, list):
                if len(value) == 2 and isinstance(value[0], str) and isinstance(value[1], int) and not isinstance(value[1], bool):
                    return list(value)      # a link [node id, output slot]
                return [sub(v) for v in value]
            return value

        graph = {nid: {**node, "inputs": sub(node.get("inputs", {}))} for nid, node in self.graph.items()}
        for b in self.bindings:
            value = values[b.name]
            graph[b.node]["inputs"][b.input] = _typed(b.name, value) if b.name in INT_FIELDS | FLOAT_FIELDS else (
                value if isinstance(value, str) else _text(value))
        return graph
