"""SafeSteer features a user meets in the real frontend: the A/B compare view of the strength sweep,
SafeSteer's own error in the UI's error panel (with the server still serving), and the workflows in
the template browser with thumbnails. Screenshots go to ``out/ui/<host version>/``."""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from comfy_host import host_out_dir
from conftest import UI_WRONG_SIZE_DIRECTION
from ui_driver import RUN_TIMEOUT_S
from ui_standins import tiny_plan

REPO = Path(__file__).resolve().parents[1]
WORKFLOWS = REPO / "workflows"
#: The pack's folder name under custom_nodes/ in the test base dir (tests/comfy_host.PACK_NAME).
PACK = "safesteer"


def _load(name: str) -> dict[str, Any]:
    return json.loads((WORKFLOWS / name).read_text(encoding="utf-8"))


def _node_id(workflow: dict[str, Any], node_type: str) -> str:
    ids = [str(n["id"]) for n in workflow["nodes"] if n["type"] == node_type]
    assert len(ids) == 1, f"expected one {node_type} in the workflow, found {ids}"
    return ids[0]


def _open_tiny(frontend, name: str) -> dict[str, Any]:
    """Drop a shipped workflow, close the missing-models dialog, swap in the tiny models."""
    workflow = _load(name)
    frontend.drop_workflow(workflow, name)
    frontend.close_dialogs()
    frontend.apply_graph_edits(tiny_plan(workflow))
    return workflow


# ------------------------------------------------------------------------------ A/B compare view


def test_ab_compare_view_shows_every_variant_with_strength_and_score(frontend):
    workflow = _open_tiny(frontend, "ab_strength_sweep.json")
    grid_id = _node_id(workflow, "SafeSteerComparisonGrid")
    steer_id = _node_id(workflow, "SafeSteerDiTSteer")
    # 'add' steers every prompt (the tiny random encoder decides nothing about gates), so the safety
    # score must rise with strength.
    frontend.apply_graph_edits({"widgets": [{"id": steer_id, "name": "mode", "value": "add"}]})
    outcome = frontend.queue_run(timeout_s=RUN_TIMEOUT_S)
    assert outcome.status == "success", json.dumps(outcome.error)[:3000]
    frontend.wait_for_previews([grid_id])
    sent = next(e["output"] for e in outcome.executed if e["node"] == grid_id)["safesteer_ab"]

    page = frontend.page
    page.wait_for_selector(".safesteer-ab .safesteer-ab-cell img", timeout=15000)
    frontend.fit_view([grid_id], zoom=0.9)
    view = page.evaluate("""() => {
        const root = document.querySelector('.safesteer-ab');
        const cells = [...root.querySelectorAll('.safesteer-ab-cell')];
        return {count: Number(root.dataset.count),
                cells: cells.map(c => ({index: Number(c.dataset.index), strength: Number(c.dataset.strength),
                                        score: c.dataset.score === '' ? null : Number(c.dataset.score),
                                        caption: c.querySelector('.safesteer-ab-caption').innerText,
                                        loaded: c.querySelector('img').complete && c.querySelector('img').naturalWidth > 0})),
                a: root.querySelector('.safesteer-ab-label-a').innerText,
                b: root.querySelector('.safesteer-ab-label-b').innerText,
                visible: root.getBoundingClientRect().width > 0};
    }""")
    strengths = [0.0, 0.5, 1.0, 2.0]
    assert view["count"] == 4 and view["visible"]
    assert [c["strength"] for c in view["cells"]] == strengths
    assert all(c["loaded"] for c in view["cells"]), view["cells"]
    assert [c["score"] for c in view["cells"]] == pytest.approx([e["score"] for e in sent], abs=1e-6)
    scores = [c["score"] for c in view["cells"]]
    assert all(b > a for a, b in zip(scores, scores[1:])), f"safety score does not rise with strength: {scores}"
    for cell, entry in zip(view["cells"], sent):
        assert cell["caption"].startswith(f"strength {cell['strength']:g}"), cell["caption"]
        assert f"{entry['score']:+.2f}" in cell["caption"], (cell["caption"], entry["score"])
    assert view["a"].startswith("A: strength 0") and view["b"].startswith("B: strength 2"), (view["a"], view["b"])
    assert f"{sent[-1]['delta']:+.2f}" in view["b"] and sent[-1]["delta"] == pytest.approx(scores[-1] - scores[0])

    # the wipe slider, dragged with the mouse, moves the A/B divide
    wipe = page.locator(".safesteer-ab-wipe")
    value = float(wipe.input_value())
    assert value == 50, value                       # the untouched start
    for _ in range(3):
        # Playwright's own click waits until the slider is stable and is what receives the click at that
        # point (a canvas redraw or a toast can move or cover it); a raw mouse click at an older bounding
        # box was dropped under load. Re-measured on every try.
        box = wipe.bounding_box()
        assert box is not None
        wipe.click(position={"x": box["width"] * 0.2, "y": box["height"] / 2}, timeout=15000)
        page.wait_for_timeout(300)
        value = float(wipe.input_value())
        if value != 50:
            break
    assert 10 <= value <= 30, value
    clip = page.evaluate("document.querySelector('.safesteer-ab-a').style.clipPath")
    right = float(re.search(r"inset\(0(?:px)? ([\d.]+)%", clip).group(1))
    assert right == pytest.approx(100 - value, abs=0.5), clip
    # the divide is drawn on the picture itself (the frame has the image's aspect, no letterbox)
    geometry = page.evaluate("""() => { const a = document.querySelector('.safesteer-ab-a'), d = document.querySelector('.safesteer-ab-divider');
        const ra = a.getBoundingClientRect(), rd = d.getBoundingClientRect();
        return {left: ra.left, width: ra.width, height: ra.height, divider: rd.left + rd.width / 2,
                aspect: a.naturalWidth / a.naturalHeight}; }""")
    assert geometry["width"] / geometry["height"] == pytest.approx(geometry["aspect"], rel=0.03), geometry
    assert geometry["divider"] == pytest.approx(geometry["left"] + geometry["width"] * value / 100, abs=2), geometry

    # click picks B, shift-click picks A
    page.locator(".safesteer-ab-cell").nth(1).click()
    page.locator(".safesteer-ab-cell").nth(2).click(modifiers=["Shift"])
    picked = page.evaluate("""() => ({a: document.querySelector('.safesteer-ab-label-a').innerText,
                                      b: document.querySelector('.safesteer-ab-label-b').innerText,
                                      isA: [...document.querySelectorAll('.safesteer-ab-cell.is-a')].map(c => c.dataset.index),
                                      isB: [...document.querySelectorAll('.safesteer-ab-cell.is-b')].map(c => c.dataset.index),
                                      srcA: document.querySelector('.safesteer-ab-a').src,
                                      srcB: document.querySelector('.safesteer-ab-b').src})""")
    assert picked["b"].startswith("B: strength 0.5") and picked["a"].startswith("A: strength 1"), picked
    assert picked["isA"] == ["2"] and picked["isB"] == ["1"]
    assert sent[2]["image"]["filename"] in picked["srcA"] and sent[1]["image"]["filename"] in picked["srcB"]
    page.locator(".safesteer-ab-cell").nth(3).click()          # back to the most steered variant for the picture
    page.locator(".safesteer-ab-cell").nth(0).click(modifiers=["Shift"])
    frontend.screenshot(host_out_dir("ui") / "ab_compare.png")
    frontend.graph_screenshot(host_out_dir("ui") / "ab_compare_node.png", node_ids=[grid_id])      # the README's picture


def _cells(page) -> list[dict[str, Any]]:
    return page.evaluate("""() => [...document.querySelectorAll('.safesteer-ab .safesteer-ab-cell')].map(c => ({
        caption: c.querySelector('.safesteer-ab-caption').innerText, flagged: c.dataset.flagged,
        marked: c.classList.contains('is-flagged'),
        color: getComputedStyle(c.querySelector('.safesteer-ab-caption')).color}))""")


def test_ab_compare_view_shows_each_variants_detector_verdict(frontend):
    """An Image Safety Check between VAE Decode and the grid: the real NudeNet detector passes the
    (noise) images of every variant, then a plug-in that flags them all marks every cell FLAGGED."""
    workflow = _open_tiny(frontend, "ab_strength_sweep.json")
    grid_id = _node_id(workflow, "SafeSteerComparisonGrid")
    decode_id = _node_id(workflow, "VAEDecode")
    steer_id = _node_id(workflow, "SafeSteerDiTSteer")
    added = frontend.apply_graph_edits({
        "widgets": [{"id": steer_id, "name": "mode", "value": "add"}],          # scores rise with strength
        "add": [{"key": "check", "type": "SafeSteerImageSafetyCheck", "near": decode_id,
                 "widgets": {"classifier": "nudenet", "replace_with": "none"}}],
        "connect": [{"from": decode_id, "slot": 0, "to": "new:check", "input": "images"},
                    {"from": "new:check", "slot": 3, "to": grid_id, "input": "safety_check"}],
    })["added"]
    outcome = frontend.queue_run(timeout_s=300)
    assert outcome.status == "success", json.dumps(outcome.error)[:3000]
    sent = next(e["output"] for e in outcome.executed if e["node"] == grid_id)["safesteer_ab"]
    assert [(e["detector"], e["flagged"], e["checked"], e["detector_score"]) for e in sent] == [("nudenet", 0, 1, 0.0)] * 4
    page = frontend.page
    page.wait_for_selector(".safesteer-ab .safesteer-ab-cell img", timeout=15000)
    cells = _cells(page)
    assert len(cells) == 4
    for cell, entry in zip(cells, sent):
        assert cell["caption"].endswith(" \u00b7 nudenet safe 0.00"), cell["caption"]
        assert f"safety {entry['score']:+.2f}" in cell["caption"], (cell["caption"], entry)
        assert cell["flagged"] == "0" and not cell["marked"]
    frontend.fit_view([grid_id], zoom=0.9)
    # the longer captions must not push the strip over the A/B labels
    gap = page.evaluate("""() => document.querySelector('.safesteer-ab-strip').getBoundingClientRect().top
                                 - document.querySelector('.safesteer-ab-label-b').getBoundingClientRect().bottom""")
    assert gap >= 0, f"the strip covers the A/B labels by {-gap:.0f} px"
    page.wait_for_function("[...document.querySelectorAll('.safesteer-ab img')].every(i => i.complete && i.naturalWidth > 0)",
                           timeout=15000)
    frontend.screenshot(host_out_dir("ui") / "ab_compare_verdicts.png")

    # every image has some red, so this plug-in flags all four; only the check and the grid run again
    helpers = REPO / "tests" / "evaluate_helpers.py"
    frontend.apply_graph_edits({"widgets": [{"id": added["check"], "name": "classifier",
                                             "value": f"python:{helpers}:RedChannelClassifier,threshold=0"}]})
    again = frontend.queue_run(timeout_s=300)
    assert again.status == "success", json.dumps(again.error)[:3000]
    sent = next(e["output"] for e in again.executed if e["node"] == grid_id)["safesteer_ab"]
    assert [e["flagged"] for e in sent] == [1, 1, 1, 1]
    page.wait_for_function("[...document.querySelectorAll('.safesteer-ab-cell')].every(c => c.dataset.flagged === '1')",
                           timeout=15000)
    cells = _cells(page)
    for cell, entry in zip(cells, sent):
        assert cell["caption"].endswith(f" \u00b7 red FLAGGED {entry['detector_score']:.2f}"), cell["caption"]
        assert cell["marked"] and cell["color"] == "rgb(255, 138, 128)", cell
    labels = page.evaluate("document.querySelector('.safesteer-ab-label-b').innerText")
    assert labels.startswith("B: strength 2") and labels.endswith(f"red FLAGGED {sent[-1]['detector_score']:.2f}"), labels


# ------------------------------------------------------------------------------ missing nodes


def test_a_workflow_with_an_unknown_node_gets_the_missing_node_dialog(frontend):
    """The control for the workflow tests' "no missing-node dialog": the frontend does show one, and the
    check sees it, when a workflow uses a node type no pack provides."""
    workflow = _load("flux_t2i_safety.json")
    broken = json.loads(json.dumps(workflow))
    steer = next(n for n in broken["nodes"] if n["type"] == "SafeSteerDiTSteer")
    steer["type"] = "SafeSteerNoSuchNode"
    steer["properties"] = {"Node name for S&R": "SafeSteerNoSuchNode"}    # from no known pack (no cnr_id)
    frontend.drop_workflow(broken, "broken.json")
    dialog = frontend.wait_for_dialog("missing node")
    assert "SafeSteerNoSuchNode" in dialog
    assert not next(n for n in frontend.nodes() if n["id"] == str(steer["id"]))["registered"]


# ------------------------------------------------------------------------------ friendly failure


def test_mismatched_direction_shows_safesteer_error_and_the_server_keeps_serving(frontend, ui_server):
    workflow = _open_tiny(frontend, "flux_t2i_safety.json")
    load_id = _node_id(workflow, "SafeSteerLoadDirection")
    steer_id = _node_id(workflow, "SafeSteerDiTSteer")
    estimate_id = _node_id(workflow, "SafeSteerEstimateDirection")
    # the user un-mutes Load Safety Direction, picks a file made for another model and wires it in
    frontend.apply_graph_edits({
        "modes": [{"id": load_id, "mode": 0}],
        "widgets": [{"id": load_id, "name": "direction_name", "value": UI_WRONG_SIZE_DIRECTION}],
        "connect": [{"from": load_id, "slot": 0, "to": steer_id, "input": "direction"}],
    })
    outcome = frontend.queue_run(timeout_s=RUN_TIMEOUT_S)
    assert outcome.status == "error"
    error = outcome.error
    assert error["node_type"] == "SafeSteerDiTSteer" and error["exception_type"].startswith("steering_core.errors."), error
    message = error["exception_message"].strip()
    assert "77" in message, message
    panel = frontend.wait_for_dialog("77")
    assert "SafeSteerDiTSteer" in panel or "DiT Safety Steer" in panel, panel
    first_line = message.splitlines()[0]
    assert first_line[:60] in panel, f"the error panel does not show SafeSteer's message {first_line!r}:\n{panel}"
    frontend.screenshot(host_out_dir("ui") / "error_mismatched_direction.png")

    # the server is still up: the user fixes the wiring and the next queue item runs
    frontend.close_dialogs()
    assert ui_server.proc.poll() is None
    frontend.apply_graph_edits({"connect": [{"from": estimate_id, "slot": 0, "to": steer_id, "input": "direction"}],
                                "modes": [{"id": load_id, "mode": 2}]})
    again = frontend.queue_run(timeout_s=RUN_TIMEOUT_S)
    assert again.status == "success", json.dumps(again.error)[:2000]
    frontend.wait_for_previews([_node_id(workflow, "SaveImage")])


# ------------------------------------------------------------------------------ templates


def test_workflows_are_templates_with_thumbnails(frontend, ui_server):
    names = sorted(p.stem for p in WORKFLOWS.glob("*.json"))
    listed = ui_server.get_json("/api/workflow_templates")
    assert sorted(listed.get(PACK, [])) == names, listed
    for name in names:                                          # the URLs the template browser builds
        with urllib.request.urlopen(f"{ui_server.url}/api/workflow_templates/{PACK}/{name}.jpg", timeout=10) as resp:
            assert resp.headers["Content-Type"] == "image/jpeg"
            assert resp.read(3) == b"\xff\xd8\xff"
        with urllib.request.urlopen(f"{ui_server.url}/api/workflow_templates/{PACK}/{name}.json", timeout=10) as resp:
            assert json.loads(resp.read())["nodes"] == _load(f"{name}.json")["nodes"]

    # the template browser lists them under the pack, each card with its thumbnail fetched and shown
    page = frontend.page
    fetched: dict[str, int] = {}
    page.on("response", lambda r: fetched.__setitem__(r.url.split("?")[0].rsplit("/", 1)[-1], r.status)
            if f"/workflow_templates/{PACK}/" in r.url and r.url.split("?")[0].endswith(".jpg") else None)
    page.get_by_role("button", name="Templates").first.click()
    page.get_by_text(PACK, exact=True).first.click()
    page.wait_for_function(f"[...document.querySelectorAll(':is(.p-dialog, [role=dialog]) img')].filter(i => i.complete && "
                           f"i.naturalWidth === 512).length >= {len(names)}", timeout=15000)
    assert fetched == {f"{n}.jpg": 200 for n in names}, fetched
    titles = page.evaluate("[...document.querySelectorAll(':is(.p-dialog, [role=dialog]) :is(h3, [class*=title])')]"
                           ".map(e => e.innerText.trim())")
    assert set(names) <= set(titles), titles
    frontend.screenshot(host_out_dir("ui") / "templates.png")

    # opening one loads it into the canvas
    page.get_by_text("flux_t2i_safety", exact=True).first.click()
    page.wait_for_function("app.graph._nodes.some(n => n.type === 'SafeSteerDiTSteer')", timeout=15000)
