"""Every shipped workflow in the real ComfyUI frontend (Debian Chromium via Playwright).

For each file in ``workflows/``: drop it on the canvas of the frontend the real server serves with the
pack installed, then check what a user would see: no missing-node dialog (and a missing-models dialog
that lists exactly the checkpoints the workflow names), every SafeSteer node rendered with the widgets
and values of its live definition, every strength input a slider with the range the README documents;
then swap the loaders for tiny stand-ins (``ui_standins``), click Run, and wait for the output image
to show on the output node. A screenshot of each lands in ``out/ui/<host version>/<workflow>.png`` (and the graph
alone in ``<workflow>.graph.png``, the source of the template thumbnails).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from comfy_host import host_out_dir
from ui_driver import RUN_TIMEOUT_S
from ui_standins import checkpoint_names, tiny_plan
from workflow_check import MODE_ALWAYS, VALUE, widget_layout, widget_values_by_name

REPO = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((REPO / "workflows").glob("*.json"))
#: Output nodes whose preview is an image or a video on the node.
IMAGE_OUTPUT_TYPES = ("SaveImage", "PreviewImage", "SaveVideo", "SaveAnimatedWEBP", "SafeSteerComparisonGrid")
#: Inputs that are strengths: shown as sliders, with the range the README documents.
STRENGTH_INPUT = re.compile(r"(^|_)strength$|^beta$|^gamma$")


def documented_slider_ranges(readme: str) -> dict[str, list[tuple[re.Pattern[str], float, float]]]:
    """{node id: [(input-name pattern, min, max)]} from the README's node table, whose rows name the node
    id in backticks and write each slider as ``name`` ... slider A–B (``<category>`` = any category)."""
    ranges: dict[str, list[tuple[re.Pattern[str], float, float]]] = {}
    for line in readme.splitlines():
        ids = re.findall(r"`(SafeSteer\w+)`", line)
        if not line.startswith("|") or not ids:
            continue
        for name, lo, hi in re.findall(r"`([<>\w]+)`[^`|]*?slider ([\d.]+)–([\d.]+)", line):
            pattern = re.compile("^" + re.escape(name).replace(re.escape("<category>"), r"\w+") + "$")
            for node_id in ids:
                ranges.setdefault(node_id, []).append((pattern, float(lo), float(hi)))
    return ranges


@pytest.fixture(scope="module")
def object_info(ui_server) -> dict[str, Any]:
    return ui_server.object_info()


@pytest.fixture(scope="module")
def slider_ranges() -> dict[str, list[tuple[re.Pattern[str], float, float]]]:
    return documented_slider_ranges((REPO / "README.md").read_text(encoding="utf-8"))


def test_readme_documents_a_range_for_every_strength_input(object_info, slider_ranges):
    """The table the UI test checks sliders against covers every strength input of every SafeSteer node."""
    undocumented = []
    for node_id, info in object_info.items():
        if not node_id.startswith("SafeSteer") or info.get("python_module", "").endswith("testkit"):
            continue
        for section in ("required", "optional"):
            for name, spec in (info["input"].get(section) or {}).items():
                if spec[0] == "FLOAT" and STRENGTH_INPUT.search(name) and not spec[1].get("forceInput"):
                    if not any(p.match(name) for p, _, _ in slider_ranges.get(node_id, [])):
                        undocumented.append(f"{node_id}.{name}")
    assert not undocumented, f"strength inputs without a documented slider range in README.md: {undocumented}"
    assert slider_ranges["SafeSteerDiTSteer"][0][1:] == (0.0, 10.0)        # the parser reads what the table says


@pytest.mark.parametrize("path", WORKFLOWS, ids=[p.stem for p in WORKFLOWS])
def test_workflow_loads_renders_and_runs_in_the_frontend(path: Path, frontend, object_info, slider_ranges):
    workflow = json.loads(path.read_text(encoding="utf-8"))
    frontend.drop_workflow(workflow, path.name)

    # -- what the user sees right after the drop
    assert frontend.dialog_with("missing node") is None, f"missing-node dialog: {frontend.dialogs()}"
    wanted = checkpoint_names(workflow)
    if wanted:
        dialog = frontend.wait_for_dialog("Missing Models")
        listed = set(re.findall(r"[\w.\-]+\.safetensors", dialog))
        assert listed == wanted, f"missing-models dialog lists {sorted(listed)}, the workflow names {sorted(wanted)}"
    frontend.close_dialogs()

    nodes = {n["id"]: n for n in frontend.nodes()}
    assert set(nodes) == {str(n["id"]) for n in workflow["nodes"]}
    unregistered = [n["type"] for n in nodes.values() if not n["registered"]]
    assert not unregistered, f"node types the frontend does not know: {unregistered}"

    safesteer = [n for n in workflow["nodes"] if n["type"].startswith("SafeSteer")]
    assert safesteer, f"{path.name} has no SafeSteer node"
    for wf_node in safesteer:
        shown = nodes[str(wf_node["id"])]
        info = object_info[wf_node["type"]]
        expected = [s.name for s in widget_layout(info) if s.kind == VALUE]
        widgets = {w["name"]: w for w in shown["widgets"] if w["name"] != "control_after_generate"}
        assert list(widgets) == expected, f"{wf_node['type']} renders widgets {list(widgets)}, its definition has {expected}"
        assert shown["size"][0] > 0 and shown["size"][1] > 0
        for name, value in widget_values_by_name(wf_node, info).items():
            assert widgets[name]["value"] == value, f"{wf_node['type']}.{name} shows {widgets[name]['value']!r}, file has {value!r}"
        for name, w in widgets.items():
            if not STRENGTH_INPUT.search(name):
                continue
            assert w["type"] == "slider", f"{wf_node['type']}.{name} is a {w['type']} widget, not a slider"
            documented = [(lo, hi) for p, lo, hi in slider_ranges.get(wf_node["type"], []) if p.match(name)]
            assert documented, f"README documents no range for {wf_node['type']}.{name}"
            assert (w["min"], w["max"]) == documented[0], f"{wf_node['type']}.{name} slider spans {w['min']}–{w['max']}, README says {documented[0]}"

    # -- swap in the tiny models, queue, and see the result
    frontend.apply_graph_edits(tiny_plan(workflow))
    outcome = frontend.queue_run(timeout_s=RUN_TIMEOUT_S)
    assert outcome.status == "success", f"{path.name} failed in the UI: {json.dumps(outcome.error)[:3000]}"
    outputs = [str(n["id"]) for n in workflow["nodes"] if n["type"] in IMAGE_OUTPUT_TYPES and n.get("mode", 0) == MODE_ALWAYS]
    assert outputs, f"{path.name} has no image output node"
    previews = frontend.wait_for_previews(outputs)
    for node_id in outputs:
        assert previews[node_id]["output"], f"node {node_id} got no output"
    assert frontend.dialog_with("error") is None, f"an error dialog is open after a successful run: {frontend.dialogs()}"
    frontend.fit_view()
    frontend.screenshot(host_out_dir("ui") / f"{path.stem}.png")
    frontend.graph_screenshot(host_out_dir("ui") / f"{path.stem}.graph.png")          # scripts/make_template_thumbnails.py
