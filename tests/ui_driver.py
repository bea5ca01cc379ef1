"""Drive the real ComfyUI web frontend (the one the host serves) in Debian's Chromium via Playwright.

Everything a user does goes through the page: a workflow file is *dropped* on the canvas (the same
``drop`` handler as a drag from the desktop), the Run button is clicked, and results are read from
what the frontend shows (its dialogs, its node widgets, the images on the nodes). Graph edits that a
user would make by hand (replacing a loader by another node, typing a widget value) go through the
frontend's LiteGraph API in the page (``tests/ui_js/``).

No browser is downloaded: ``launch_chromium`` starts the system ``chromium`` (installed by
``scripts/install_chromium.sh``, which ``make test`` runs).

Both supported frontends (1.32 and 1.49) are driven by what the page has, never by its version:
missing nodes, missing models and run errors come as PrimeVue dialogs (``.p-dialog``, 1.32) or as an
error overlay ("N errors found", ``[data-testid=error-overlay]``) whose "see errors" button opens the
errors tab of the properties side panel (1.49); other dialogs, such as the template browser, are
``.p-dialog`` or ``[role=dialog]``. :meth:`Frontend.dialogs` reads all of them, opening the errors panel
when an overlay offers it.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

UI_JS_DIR = Path(__file__).resolve().parent / "ui_js"
#: Settings written into the server's user folder before the page opens: no first-run template
#: gallery over the canvas (the tests open the template browser themselves when they want it).
FRONTEND_SETTINGS = {"Comfy.TutorialCompleted": True,
                     # draw node text at any zoom, so a whole-graph screenshot stays readable
                     "LiteGraph.Canvas.MinFontSizeForLOD": 0,
                     # no minimap or render stats over the graph in screenshots
                     "Comfy.Minimap.Visible": False, "Comfy.Graph.CanvasInfo": False}
VIEWPORT = {"width": 2200, "height": 1240}
#: How long a test waits for a queued run to end: a hang guard, not a speed target. The host matrix runs
#: two suites on 2 cores, and the SAE workflows (a short Train Safety SAE) then took over 300 s.
RUN_TIMEOUT_S = 900.0
T = TypeVar("T")


class FrontendError(AssertionError):
    """The page did not do what a test waited for; the message carries what it showed instead."""


def write_frontend_settings(base_dir: Path, settings: dict[str, Any] | None = None) -> None:
    """The default user's ``comfy.settings.json`` under ``<base>/user/default``."""
    folder = Path(base_dir) / "user" / "default"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "comfy.settings.json").write_text(json.dumps({**FRONTEND_SETTINGS, **(settings or {})}), encoding="utf-8")


def launch_chromium(playwright: Any) -> Any:
    """The system Chromium under Playwright (``--no-sandbox``: CI runs as root)."""
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        raise FrontendError("no `chromium` on PATH: run `make test` (scripts/install_chromium.sh installs Debian's chromium).")
    return playwright.chromium.launch(executable_path=exe, args=["--no-sandbox", "--disable-gpu"])


def js(name: str) -> str:
    """The source of ``tests/ui_js/<name>.js`` (one function expression for ``page.evaluate``)."""
    return (UI_JS_DIR / f"{name}.js").read_text(encoding="utf-8")


def _poll(check: Callable[[], T | None], timeout_s: float, every_s: float = 0.2) -> T | None:
    """Call ``check`` until it returns something truthy (returned) or ``timeout_s`` passes (None)."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() >= deadline:
            return None
        time.sleep(every_s)


@dataclass
class RunOutcome:
    """How one queued run ended, as the frontend's websocket events told the page."""

    status: str                                   # "success" | "error" | "interrupted"
    prompt_id: str | None
    error: dict[str, Any] | None = None           # the execution_error event's detail
    executed: list[dict[str, Any]] = field(default_factory=list)   # executed events (node, output) of the run


class Frontend:
    """One browser page on the ComfyUI frontend at ``url``."""

    def __init__(self, browser: Any, url: str, *, timeout_s: float = 60.0):
        self.url = url
        self.page = browser.new_page(viewport=VIEWPORT)
        self.console: list[str] = []
        self.page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        self.page.on("pageerror", lambda e: self.console.append(f"pageerror: {e}"))
        self.page.goto(url)
        self.page.wait_for_function("window.app && window.app.graph && window.LiteGraph && window.app.api",
                                    timeout=timeout_s * 1000)
        self.page.evaluate(js("record_events"))
        self._dismiss_banner()

    def close(self) -> None:
        self.page.close()

    # ------------------------------------------------------------------ what the page shows
    def dialogs(self) -> list[str]:
        """The visible text of every open dialog (missing nodes, missing models, errors, templates...)
        and of the errors panel, which an error overlay's "see errors" button opens first."""
        self.page.evaluate(js("open_error_panel"))
        return self.page.evaluate(js("visible_dialogs"))

    def dialog_with(self, text: str) -> str | None:
        """The first open dialog whose text contains ``text`` (case-insensitive), or None."""
        for d in self.dialogs():
            if text.lower() in d.lower():
                return d
        return None

    def wait_for_dialog(self, text: str, timeout_s: float = 15.0) -> str:
        found = _poll(lambda: self.dialog_with(text), timeout_s)
        if found is not None:
            return found
        raise FrontendError(f"no dialog containing {text!r} appeared; open dialogs: {self.dialogs()}")

    def close_dialogs(self) -> None:
        """Close every open dialog and the errors panel by their close buttons (Escape as a fallback)."""
        for _ in range(6):
            if not self.dialogs():
                return
            if not self.page.evaluate(js("close_dialogs")):
                self.page.keyboard.press("Escape")
            time.sleep(0.3)
        if self.dialogs():
            raise FrontendError(f"dialogs would not close: {self.dialogs()}")

    def nodes(self) -> list[dict[str, Any]]:
        """Every node of the open graph: id, type, title, mode, size, widgets (name, type, value, min, max, step)."""
        return self.page.evaluate(js("describe_nodes"))

    def _dismiss_banner(self) -> None:
        self.page.evaluate(
            "(() => { for (const b of document.querySelectorAll('button')) { const p = b.parentElement; "
            "if (p && p.innerText && p.innerText.includes('Introducing Nodes 2.0') && b.innerText.trim() === '') b.click(); } })()")

    # ------------------------------------------------------------------ what a user does
    def drop_workflow(self, workflow: dict[str, Any], filename: str, *, settle_s: float = 1.0) -> None:
        """Drop a workflow JSON file on the canvas, as a drag from the desktop does."""
        self.page.evaluate(js("drop_file"), [json.dumps(workflow), filename])
        self.page.wait_for_function(f"app.graph._nodes.length >= {len(workflow.get('nodes', []))}", timeout=15000)
        time.sleep(settle_s)

    def apply_graph_edits(self, plan: dict[str, Any]) -> dict[str, Any]:
        """Replace nodes and set widgets (see ``ui_js/edit_graph.js`` for the plan's shape)."""
        return self.page.evaluate(js("edit_graph"), plan)

    def fit_view(self, node_ids: list[str] | None = None, zoom: float = 0.92) -> None:
        """Zoom and pan so the graph (or only ``node_ids``) fills ``zoom`` of the window."""
        bounds = self.page.evaluate(js("graph_bounds"), node_ids)
        self.page.evaluate("([b, zoom]) => { const c = window.app.canvas; "
                           "c.ds.fitToBounds([b[0], b[1], b[2] - b[0], b[3] - b[1]], {zoom}); c.setDirty(true, true); }",
                           [bounds, zoom])
        time.sleep(0.5)

    def queue_run(self, timeout_s: float = 180.0) -> RunOutcome:
        """Click Run and wait until the frontend hears the run end (success, error or interruption)."""
        before = self.page.evaluate("window.__safesteer.ended.length")
        self._click_run()
        ended = _poll(lambda: self.page.evaluate(f"window.__safesteer.ended.slice({before})"), timeout_s)
        if not ended:
            raise FrontendError(f"the run did not end within {timeout_s:.0f} s; console tail: {self.console[-20:]}")
        last = ended[0]
        executed = self.page.evaluate(
            "(pid) => window.__safesteer.executed.filter(e => !pid || e.prompt_id === pid)", last.get("prompt_id"))
        return RunOutcome(last["status"], last.get("prompt_id"), last.get("error"), executed)

    def _click_run(self) -> None:
        """Click the Run button; if something lies over it (a toast, a tooltip, a BlockUI mask), say what,
        move the pointer away, close dialogs and click again. Frontend 1.49 can leave a document-wide
        PrimeVue BlockUI mask in its leave transition after loading a workflow; once that mask has outlived
        its transition (still there after the retries), or when the button's own label is what lies at its
        centre every time, the click is dispatched to the button itself."""
        button = self.page.get_by_role("button", name="Run", exact=True).first
        covered: list[str] = []
        for _ in range(6):
            try:
                button.click(timeout=5000)
                return
            except Exception:  # noqa: BLE001 - Playwright's TimeoutError; report what covered the button
                covered.append(self.page.evaluate(
                    "(() => { const b = [...document.querySelectorAll('button[aria-label=\"Run\"]')][0]; if (!b) return 'no Run button'; "
                    "const r = b.getBoundingClientRect(); const e = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2); "
                    "return e ? (e.tagName + '.' + e.className + ': ' + (e.innerText || '').slice(0, 80)) : 'nothing'; })()"))
                self.page.mouse.move(VIEWPORT["width"] // 2, VIEWPORT["height"] // 2)
                self.close_dialogs()
        # either a BlockUI mask that outlived its leave transition, or the button's own label on top while
        # Playwright's actionability checks kept timing out (seen on a CPU-starved machine): the click is the
        # button's either way
        if covered and all(("p-blockui-mask" in c and "p-overlay-mask-leave" in c) or c == "SPAN.p-button-label: Run"
                           for c in covered[-3:]):
            button.dispatch_event("click")
            return
        raise FrontendError(f"could not click Run; the element at its centre was: {covered}")

    def output_previews(self) -> dict[str, dict[str, Any]]:
        """For every node the frontend holds outputs for: the output dict and how its preview looks
        (loaded images with their natural sizes, video elements)."""
        return self.page.evaluate(js("output_previews"))

    def wait_for_previews(self, node_ids: list[str], timeout_s: float = 20.0) -> dict[str, dict[str, Any]]:
        """Wait until each listed node shows at least one loaded image or video; returns output_previews()."""
        def shown() -> dict[str, dict[str, Any]] | None:
            previews = self.output_previews()
            return previews if all(previews.get(n, {}).get("shown") for n in node_ids) else None

        previews = _poll(shown, timeout_s)
        if previews is None:
            raise FrontendError(f"nodes {node_ids} show no loaded output image; previews: "
                                f"{json.dumps(self.output_previews())[:2000]}")
        return previews

    def graph_screenshot(self, path: Path, pad: int = 12, node_ids: list[str] | None = None) -> Path:
        """A screenshot clipped to the graph's nodes (or only ``node_ids``) as drawn now (call :meth:`fit_view` first)."""
        bounds = self.page.evaluate(js("graph_bounds"), node_ids)
        box = self.page.evaluate("(b) => { const c = window.app.canvas, ds = c.ds, r = c.canvas.getBoundingClientRect(); "
                                 "const sx = (x) => r.left + (x + ds.offset[0]) * ds.scale, "
                                 "sy = (y) => r.top + (y + ds.offset[1]) * ds.scale; "
                                 "return [sx(b[0]), sy(b[1]), sx(b[2]), sy(b[3])]; }", bounds)
        x0, y0 = max(0, box[0] - pad), max(0, box[1] - pad)
        x1, y1 = min(VIEWPORT["width"], box[2] + pad), min(VIEWPORT["height"], box[3] + pad)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(path), clip={"x": x0, "y": y0, "width": x1 - x0, "height": y1 - y0})
        return path

    def screenshot(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(path))
        return path
