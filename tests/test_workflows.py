"""The example workflows in workflows/ line up with the LIVE node definitions of a real ComfyUI 0.3.75.

UI-format workflows store widget values by position, so they break silently when a node's inputs
change (ecosystem notes §4). Each file is checked against ``/object_info`` as the in-process host
builds it (the server's own route handler), with the same mapping the frontend uses on load; see
tests/workflow_check.py. The API conversion is checked with ComfyUI's own ``validate_prompt``.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from comfy_host import PACK_NAME
from workflow_check import (
    DYNAMIC_COMBO,
    FILE_COMBO_INPUTS,
    FRONTEND_ONLY,
    check_workflow,
    object_info_from_host,
    ui_to_api,
    widget_layout,
)

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW_DIR = ROOT / "workflows"
EXPECTED = {
    "flux_t2i_safety.json", "sd35_t2i_safety.json", "qwen_image_t2i_safety.json", "wan_t2v_safety.json",
    "cross_model_llm_to_flux.json", "ab_strength_sweep.json", "sae_flux_blend_repel.json", "sae_wan_blend_repel.json",
}
WORKFLOWS = sorted(p.name for p in WORKFLOW_DIR.glob("*.json"))
PACK_MODULE = f"custom_nodes.{PACK_NAME}"


def _load(name: str) -> dict[str, Any]:
    return json.loads((WORKFLOW_DIR / name).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def object_info(comfy) -> dict[str, Any]:
    info = object_info_from_host(comfy.prompt_server, comfy.loop)
    assert "KSampler" in info and "SafeSteerDiTSteer" in info, "the host did not load core nodes and SafeSteer"
    return info


def _by_type(workflow: dict[str, Any], node_type: str) -> list[dict[str, Any]]:
    return [n for n in workflow["nodes"] if n["type"] == node_type]


def _sources(workflow: dict[str, Any], node: dict[str, Any]) -> dict[str, tuple[dict[str, Any], int]]:
    """{input name: (source node, output slot)} for a node's linked inputs."""
    nodes = {n["id"]: n for n in workflow["nodes"]}
    links = {link[0]: link for link in workflow["links"]}
    out = {}
    for entry in node["inputs"]:
        if entry.get("link") is not None:
            link = links[entry["link"]]
            out[entry["name"]] = (nodes[link[1]], link[2])
    return out


# --------------------------------------------------------------------------------------------
# The shipped files
# --------------------------------------------------------------------------------------------


def test_expected_workflows_are_shipped_and_listed_in_readme() -> None:
    assert EXPECTED <= set(WORKFLOWS), f"missing: {sorted(EXPECTED - set(WORKFLOWS))}"
    readme = (WORKFLOW_DIR / "README.md").read_text(encoding="utf-8")
    for name in WORKFLOWS:
        assert name in readme, f"workflows/README.md does not mention {name}"
        assert name == name.lower() and " " not in name


@pytest.mark.parametrize("name", WORKFLOWS)
def test_workflow_lines_up_with_live_node_definitions(name: str, object_info: dict[str, Any]) -> None:
    problems = check_workflow(_load(name), object_info)
    assert not problems, f"{name}:\n  " + "\n  ".join(problems)


@pytest.mark.parametrize("name", WORKFLOWS)
def test_workflow_uses_only_core_and_safesteer_nodes(name: str, object_info: dict[str, Any]) -> None:
    workflow = _load(name)
    assert workflow["version"] == 0.4
    assert _by_type(workflow, "Note"), f"{name} has no Note explaining it"
    modules = {}
    for node in workflow["nodes"]:
        if node["type"] in FRONTEND_ONLY:
            continue
        module = object_info[node["type"]]["python_module"]
        assert module == "nodes" or module.startswith("comfy_extras.") or module == PACK_MODULE, (
            f"{name}: node {node['id']} ({node['type']}) comes from {module}, not core ComfyUI or SafeSteer")
        assert node["properties"].get("Node name for S&R") == node["type"]
        modules[node["type"]] = module
    assert PACK_MODULE in modules.values(), f"{name} uses no SafeSteer node"
    note = _by_type(workflow, "Note")[0]["widgets_values"][0]
    for files in (v for n in workflow["nodes"] if n["type"] not in FRONTEND_ONLY
                  for s, v in zip(widget_layout(object_info[n["type"]]), n["widgets_values"])
                  if not s.control and s.name in FILE_COMBO_INPUTS and n["mode"] != 2):
        assert files in note, f"{name}: the Note does not name the model file {files}"


def test_ab_sweep_links_strength_into_a_widget_input_and_labels_into_the_grid() -> None:
    workflow = _load("ab_strength_sweep.json")
    sweep = _by_type(workflow, "SafeSteerStrengthSweep")[0]
    dit = _by_type(workflow, "SafeSteerDiTSteer")[0]
    strength = next(e for e in dit["inputs"] if e["name"] == "strength")
    assert strength["widget"] == {"name": "strength"} and strength["type"] == "FLOAT"
    src, slot = _sources(workflow, dit)["strength"]
    assert src["id"] == sweep["id"] and slot == 0
    grid = _by_type(workflow, "SafeSteerComparisonGrid")[0]
    sources = _sources(workflow, grid)
    assert sources["labels"] == (sweep, 1)
    assert sources["images"][0]["type"] == "VAEDecode"
    assert _sources(workflow, _by_type(workflow, "VAEDecode")[0])["samples"][0]["type"] == "KSampler"
    assert _sources(workflow, _by_type(workflow, "SaveImage")[0])["images"][0]["id"] == grid["id"]
    assert _by_type(workflow, "KSampler")[0]["widgets_values"][1] == "fixed", "every variant must share the seed"
    # the compare view: one Safety Monitor per variant (after the steering node) and the sweep's strengths
    monitor = _by_type(workflow, "SafeSteerSafetyMonitor")[0]
    assert _sources(workflow, monitor)["model"] == (dit, 0), "the monitor must watch the steered model"
    assert _sources(workflow, monitor)["direction"][0]["type"] == "SafeSteerEstimateDirection"
    assert _sources(workflow, _by_type(workflow, "KSampler")[0])["model"] == (monitor, 0)
    assert monitor["widgets_values"] == ["all", "img", "", "steered"]
    assert sources["strength"] == (sweep, 0)
    assert sources["monitor"] == (monitor, 1)
    note = _by_type(workflow, "Note")[0]["widgets_values"][0]
    for phrase in ("wipe slider", "shift-click", "higher = safer", "first variant"):
        assert phrase in note, f"the Note does not explain the compare view ({phrase!r})"


def test_cross_model_carries_an_llm_direction_to_flux() -> None:
    workflow = _load("cross_model_llm_to_flux.json")
    align = _by_type(workflow, "SafeSteerAlignCrossModel")[0]
    sources = _sources(workflow, align)
    source, target = sources["source_clip"][0], sources["target_clip"][0]
    assert source["type"] == "CLIPLoader" and source["widgets_values"][1] in ("qwen_image", "hidream", "lumina2")
    assert target["type"] == "DualCLIPLoader" and target["widgets_values"][2] == "flux"
    estimate = _by_type(workflow, "SafeSteerEstimateDirection")[0]
    assert _sources(workflow, estimate)["clip"][0]["id"] == source["id"], "the direction must come from the LLM"
    transport = _by_type(workflow, "SafeSteerTransportDirection")[0]
    for node_type in ("SafeSteerApplyConditioning", "SafeSteerDiTSteer", "SafeSteerSaveDirection"):
        node = _by_type(workflow, node_type)[0]
        assert _sources(workflow, node)["direction"][0]["id"] == transport["id"], node_type
    text = _by_type(workflow, "CLIPTextEncode")[0]
    assert _sources(workflow, text)["clip"][0]["id"] == target["id"], "FLUX prompts use FLUX's own encoder"


# --------------------------------------------------------------------------------------------
# The checker itself
# --------------------------------------------------------------------------------------------


def test_widget_layout_follows_the_frontend(object_info: dict[str, Any]) -> None:
    ksampler = [s.label for s in widget_layout(object_info["KSampler"])]
    assert ksampler == ["seed", "seed.control_after_generate", "steps", "cfg", "sampler_name", "scheduler", "denoise"]
    # forceInput STRING (labels) is a socket, not a widget; optional widgets come after required ones.
    assert [s.label for s in widget_layout(object_info["SafeSteerComparisonGrid"])] == ["columns"]
    assert [s.label for s in widget_layout(object_info["SafeSteerApplyConditioning"])] == [
        "strength", "mode", "token_scope", "steer_negative"]
    assert [s.label for s in widget_layout(object_info["CLIPLoader"])] == ["clip_name", "type", "device"]
    # Upload combos carry the upload widget's value (LoadImage is saved as ["file.png", "image"]).
    assert [s.label for s in widget_layout(object_info["LoadImage"])] == ["image", "image.upload"]
    # A combo with control_after_generate gets the mode and a filter string (frontend 1.32).
    combo = {"input": {"required": {"pick": [["a", "b"], {"control_after_generate": True}]}},
             "input_order": {"required": ["pick"]}}
    assert [s.label for s in widget_layout(combo)] == [
        "pick", "pick.control_after_generate", "pick.control_filter_list"]


#: A node definition in /object_info's shape with what newer hosts declare: a dynamic combo whose
#: options carry their own inputs (nested twice), a hidden input, a trailing optional widget, and a
#: passthrough output on an output node (SaveVideo / SaveImage on ComfyUI 0.33).
_CODEC = {"options": [{"key": "auto", "inputs": {"required": {}}},
                      {"key": "h264", "inputs": {"required": {"crf": ["FLOAT", {"default": 23.0, "min": 0.0, "max": 51.0}]}}}]}
NEWER_NODE = {
    "input": {"required": {"video": ["VIDEO", {}], "prefix": ["STRING", {"default": "v"}],
                           "format": [DYNAMIC_COMBO, {"options": [{"key": "mp4", "inputs": {"required": {"codec": [DYNAMIC_COMBO, _CODEC]}}},
                                                                  {"key": "gif", "inputs": {"required": {}}}]}]},
              "optional": {"codec": [DYNAMIC_COMBO, {**_CODEC, "hidden": True}], "fps": ["INT", {"default": 24, "min": 1, "max": 60}]}},
    "input_order": {"required": ["video", "prefix", "format"], "optional": ["codec", "fps"]},
    "output": ["VIDEO"], "output_name": ["video"], "output_node": True, "display_name": "Newer", "python_module": "nodes",
}
SOURCE_NODE = {"input": {"required": {}}, "output": ["VIDEO"], "output_name": ["video"], "output_node": False,
               "display_name": "Source", "python_module": "nodes"}


def _newer_workflow(values: list[Any], outputs: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    common = {"pos": [0, 0], "size": [100, 100], "flags": {}, "order": 0, "mode": 0, "properties": {}}
    return {"last_node_id": 2, "last_link_id": 1, "version": 0.4, "links": [[1, 1, 0, 2, 0, "VIDEO"]], "nodes": [
        {**common, "id": 1, "type": "Source", "inputs": [], "outputs": [{"name": "video", "type": "VIDEO", "links": [1]}],
         "widgets_values": []},
        {**common, "id": 2, "type": "Newer", "inputs": [{"name": "video", "type": "VIDEO", "link": 1}],
         "outputs": outputs or [], "widgets_values": values}]}


def test_checker_reads_dynamic_combos_optional_widgets_and_passthrough_outputs() -> None:
    info = {"Newer": NEWER_NODE, "Source": SOURCE_NODE}
    labels = [s.label for s in widget_layout(NEWER_NODE, ["v", "mp4", "h264", 20.0, 30])]
    assert labels == ["prefix", "format", "format.codec", "format.codec.crf", "fps"]
    assert [s.label for s in widget_layout(NEWER_NODE, ["v", "gif", 30])] == ["prefix", "format", "fps"]
    assert [s.label for s in widget_layout(NEWER_NODE)] == ["prefix", "format", "format.codec", "fps"]   # defaults: first options
    # a file saved before the node gained `fps` (optional) and its output loads; the API prompt uses nested keys
    older = _newer_workflow(["v", "mp4", "auto"])
    assert check_workflow(older, info) == []
    assert ui_to_api(older, info)["2"]["inputs"] == {"prefix": "v", "format": "mp4", "format.codec": "auto", "video": ["1", 0]}
    assert check_workflow(_newer_workflow(["v", "mp4", "h264", 20.0, 30],
                                          [{"name": "video", "type": "VIDEO", "links": []}]), info) == []
    # but a missing required nested value, a value outside a nested range, an unknown option are caught
    assert "format.codec.crf" in "\n".join(check_workflow(_newer_workflow(["v", "mp4", "h264"]), info))
    assert "above max 51.0" in "\n".join(check_workflow(_newer_workflow(["v", "mp4", "h264", 99.0, 30]), info))
    assert "not one of the options (mp4, gif)" in "\n".join(check_workflow(_newer_workflow(["v", "webm", 30]), info))
    # a node that is not an output node and lost an output is still wrong
    lost = {**SOURCE_NODE, "output": ["VIDEO", "INT"], "output_name": ["video", "n"]}
    assert "1 outputs stored, Source has 2" in "\n".join(check_workflow(older, {"Newer": NEWER_NODE, "Source": lost}))


def _mutate(workflow: dict[str, Any], node_type: str) -> dict[str, Any]:
    return next(n for n in workflow["nodes"] if n["type"] == node_type)


def _insert_middle(wf: dict[str, Any]) -> None:
    _mutate(wf, "SafeSteerDiTSteer")["widgets_values"].insert(2, 0.5)


def _rename(wf: dict[str, Any]) -> None:
    _mutate(wf, "SafeSteerDiTSteer")["type"] = "SafeSteerDiTSafetySteer"


def _drop_control(wf: dict[str, Any]) -> None:
    del _mutate(wf, "KSampler")["widgets_values"][1]


def _bad_combo(wf: dict[str, Any]) -> None:
    _mutate(wf, "SafeSteerDiTSteer")["widgets_values"][1] = "strong"


def _above_max(wf: dict[str, Any]) -> None:
    _mutate(wf, "SafeSteerDiTSteer")["widgets_values"][0] = 25.0


def _unlinked_required(wf: dict[str, Any]) -> None:
    node = _mutate(wf, "SafeSteerDiTSteer")
    entry = next(e for e in node["inputs"] if e["name"] == "direction")
    wf["links"] = [link for link in wf["links"] if link[0] != entry["link"]]
    for other in wf["nodes"]:
        for out in other["outputs"]:
            out["links"] = [lid for lid in out.get("links") or [] if lid != entry["link"]]
    entry["link"] = None


def _wrong_link(wf: dict[str, Any]) -> None:
    # Feed the sweep's labels (STRING) into DiT Safety Steer's FLOAT strength.
    link = next(link for link in wf["links"] if link[5] == "FLOAT")
    link[2], link[5] = 1, "STRING"


BROKEN = {
    "extra value inserted mid-node": (_insert_middle, ["SafeSteerDiTSteer", "widgets_values has 9 values",
                                                       "8 widget slots (strength, mode, sites",
                                                       "widgets_values[2] = 0.5 where 'sites' must be a string"]),
    "renamed node type": (_rename, ["'SafeSteerDiTSafetySteer' does not exist"]),
    "control_after_generate value missing": (_drop_control, ["KSampler", "seed.control_after_generate"]),
    "combo value not in options": (_bad_combo, ["'strong'", "'mode'", "not one of the options (add, gated, project_out)"]),
    "number above max": (_above_max, ["'strength'", "above max 10.0"]),
    "required input unlinked": (_unlinked_required, ["required input 'direction' (SAFETY_DIRECTION) is not linked"]),
    "link type mismatch": (_wrong_link, ["(STRING) cannot feed", "input 'strength' (FLOAT)"]),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_copies_are_caught_with_a_clear_message(case: str, object_info: dict[str, Any]) -> None:
    mutate, expected = BROKEN[case]
    workflow = copy.deepcopy(_load("ab_strength_sweep.json"))
    mutate(workflow)
    problems = check_workflow(workflow, object_info)
    assert problems, f"{case} was not caught"
    text = "\n".join(problems)
    for fragment in expected:
        assert fragment in text, f"{case}: {fragment!r} not in:\n{text}"


# --------------------------------------------------------------------------------------------
# UI -> API prompt, validated by ComfyUI itself
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", WORKFLOWS)
def test_api_prompt_passes_comfy_validation_except_missing_model_files(name: str, comfy, object_info) -> None:
    workflow = _load(name)
    prompt = ui_to_api(workflow, object_info)
    frontend_only = {str(n["id"]) for n in workflow["nodes"] if n["type"] in FRONTEND_ONLY or n["mode"] in (2, 4)}
    assert not frontend_only & set(prompt), "notes, muted and bypassed nodes must not reach the API prompt"
    valid, error, _outputs, node_errors = comfy.validate(prompt)
    unexpected = []
    for node_id, info in node_errors.items():
        for err in info["errors"]:
            name_ = err.get("extra_info", {}).get("input_name")
            if err["type"] != "value_not_in_list" or name_ not in FILE_COMBO_INPUTS:
                unexpected.append(f"node {node_id} ({info['class_type']}): {err['type']}: {err['message']}: {err['details']}")
    assert not unexpected, f"{name}: ComfyUI rejects more than the missing model files:\n  " + "\n  ".join(unexpected)
    if not valid:
        assert error["type"] == "prompt_outputs_failed_validation", error
    assert node_errors, "the host has no model files, so the loaders should have reported them missing"


def test_api_prompt_resolves_links_widgets_and_bypass(object_info: dict[str, Any]) -> None:
    sweep = ui_to_api(_load("ab_strength_sweep.json"), object_info)
    dit = next(n for n in sweep.values() if n["class_type"] == "SafeSteerDiTSteer")
    sweep_id = next(k for k, n in sweep.items() if n["class_type"] == "SafeSteerStrengthSweep")
    assert dit["inputs"]["strength"] == [sweep_id, 0], "a linked widget takes the link, not its stored value"
    assert dit["inputs"]["mode"] == "gated" and dit["inputs"]["space"] == "auto"
    ksampler = next(n for n in sweep.values() if n["class_type"] == "KSampler")
    assert "control_after_generate" not in ksampler["inputs"] and ksampler["inputs"]["seed"] == 42

    sd35 = _load("sd35_t2i_safety.json")
    prompt = ui_to_api(sd35, object_info)
    bypassed = _by_type(sd35, "SafeSteerMultiCategoryConditioning")[0]
    assert bypassed["mode"] == 4
    ksampler = next(n for n in prompt.values() if n["class_type"] == "KSampler")
    upstream = _sources(sd35, bypassed)["positive"][0]
    assert ksampler["inputs"]["positive"] == [str(upstream["id"]), 0], "a bypassed node passes its input through"
