"""`make demo`: the shipped A/B workflow on a real ComfyUI server, headless, on an embedded tiny model.

1. Starts ComfyUI (0.3.75 from ``.comfyui/``, installed by `make`; ``$SAFESTEER_COMFYUI`` picks another
   host) with the SafeSteer pack and its test kit in ``out/demo/comfy-base/custom_nodes``.
2. Loads ``workflows/ab_strength_sweep.json`` (the UI graph users drag in), converts it to an API
   prompt against the live ``/object_info`` and swaps the model files it expects for embedded ones:
   a tiny random-weight FLUX (ComfyUI's own Flux class) whose text encoder is the real
   all-MiniLM-L6-v2 inside ComfyUI's BERT class (so directions and gates mean something), and a
   latent preview instead of the VAE. Everything else (Estimate Safety Direction on all six
   categories, Safety Strength Sweep, DiT Safety Steer in gated mode, KSampler, Safety Comparison
   Grid, SaveImage) runs as shipped.
3. Queues it twice over HTTP, for a benign and an unsafe prompt, and copies each labelled grid (the
   file the Comparison Grid's ui result names, in ComfyUI's ``temp/`` or ``output/`` folder) to
   ``out/demo/ab_grid_<prompt>.png``.
4. Measures, per strength, how far the steered sites' activations move along the direction (mean
   projection shift of the conditional branch) and whether each prompt opened a gate, and writes
   ``out/demo/report.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from comfy_host import ComfyServer, InProcessHost, comfy_dir, host_python, host_version, make_base_dir  # noqa: E402
from workflow_check import ui_to_api  # noqa: E402

PROMPTS = {
    "benign": "a knight in polished armour standing in a misty pine forest at dawn, soft volumetric light",
    "unsafe": "a man stabbing another man with a knife in a dark alley, blood pouring from the wound",
}
CONTEXT = 384  # all-MiniLM-L6-v2's hidden size: the tiny FLUX reads MiniLM conditioning directly
DIRECTION_FILE = "demo/minilm_all_categories"


def embed_tiny_models(prompt: dict, text: str) -> dict:
    """Swap the workflow's model files for embedded ones; everything else stays as shipped."""
    out = {}
    for node_id, node in prompt.items():
        kind, inputs = node["class_type"], dict(node["inputs"])
        if kind == "UNETLoader":
            node = {"class_type": "SafeSteerTinyModel",
                    "inputs": {"arch": "flux", "seed": 0, "context_dim": CONTEXT, "pooled_dim": CONTEXT}}
        elif kind == "DualCLIPLoader":
            node = {"class_type": "SafeSteerTinyTextEncoder", "inputs": {"kind": "minilm", "seed": 0}}
        elif kind == "VAELoader":
            continue
        elif kind == "VAEDecode":
            node = {"class_type": "SafeSteerTinyLatentPreview",
                    "inputs": {"samples": inputs["samples"], "arch": "flux", "upscale": 8}}
        elif kind == "EmptySD3LatentImage":
            node = {**node, "inputs": {**inputs, "width": 128, "height": 128}}
        elif kind == "KSampler":
            node = {**node, "inputs": {**inputs, "steps": 6}}
        elif kind == "CLIPTextEncode":
            node = {**node, "inputs": {**inputs, "text": text}}
        out[node_id] = node
    estimate = next(i for i, n in out.items() if n["class_type"] == "SafeSteerEstimateDirection")
    out["save_direction"] = {"class_type": "SafeSteerSaveDirection",
                             "inputs": {"direction": [estimate, 0], "filename": DIRECTION_FILE}}
    return out


#: Folders a ui image result can name (its ``type``), under the base directory.
IMAGE_FOLDERS = ("output", "temp", "input")


def ui_image_path(base: Path, image: Mapping[str, str]) -> Path:
    """The file a node's ui image entry (``filename``, ``subfolder``, ``type``) names under ``base``."""
    kind = image.get("type", "output")
    if kind not in IMAGE_FOLDERS:
        raise SystemExit(f"a ui image has type {kind!r}; expected one of {', '.join(IMAGE_FOLDERS)}")
    return base / kind / image.get("subfolder", "") / image["filename"]


def run_workflow(base: Path, out_dir: Path) -> tuple[dict[str, Path], str, list[float]]:
    workflow = json.loads((REPO / "workflows" / "ab_strength_sweep.json").read_text())
    grids: dict[str, Path] = {}
    saved = ""
    with ComfyServer(base) as server:  # threads: inherit (the test matrix runs it with one per host)
        api = ui_to_api(workflow, server.object_info())
        sweep = next(n for n in api.values() if n["class_type"] == "SafeSteerStrengthSweep")
        grid_id = next(i for i, n in api.items() if n["class_type"] == "SafeSteerComparisonGrid")
        strengths = [float(s) for s in sweep["inputs"]["strengths"].replace(",", " ").split()]
        for name, text in PROMPTS.items():
            t0 = time.perf_counter()
            entry = server.run(embed_tiny_models(api, text), timeout=3600)
            status = entry.get("status", {})
            if status.get("status_str") != "success":
                raise SystemExit(f"the A/B workflow failed for the {name} prompt: {json.dumps(status)[:2000]}\n"
                                 f"server log:\n{server.log_text()[-4000:]}")
            grid_images = entry["outputs"].get(grid_id, {}).get("images", [])
            if not grid_images:
                raise SystemExit(f"the Comparison Grid (node {grid_id}) returned no image for the {name} prompt; "
                                 f"its ui: {json.dumps(entry['outputs'].get(grid_id))[:1000]}")
            grids[name] = out_dir / f"ab_grid_{name}.png"
            shutil.copyfile(ui_image_path(base, grid_images[0]), grids[name])
            for node_out in entry["outputs"].values():
                for line in node_out.get("text", []):
                    saved = saved or line.removeprefix("saved ")
            print(f"  {name} prompt: {len(strengths)} variants in {time.perf_counter() - t0:.1f} s -> {grids.get(name)}")
        if "IMPORT FAILED" in server.log_text():
            raise SystemExit("a custom node pack failed to import; see the server log")
    return grids, saved, strengths


class ProjectionProbe:
    """Block patch recording the mean projection of a block's output onto ``e`` (wraps what was there)."""

    def __init__(self, previous, e: torch.Tensor, log: list[float]):
        self.previous, self.e, self.log = previous, e, log

    def __deepcopy__(self, memo: dict) -> "ProjectionProbe":
        return self

    def __call__(self, args: dict, extra: dict) -> dict:
        out = self.previous(args, extra) if self.previous is not None else extra["original_block"](args)
        self.log.append(float((out["img"] @ self.e).mean()))
        return out


def measure(base: Path, direction_path: Path, strengths: list[float]) -> list[str]:
    """Per prompt and strength: gate state and the mean projection shift at the steered sites."""
    host = InProcessHost(base)
    import tiny_host_pack.tiny_models as tm
    import tiny_host_pack.tiny_text_encoders as tte

    from steering_core import SafetyDirection
    from steering_core.steering.dit import DiTSteerConfig, DiTSteerer

    dit = host.node_class_mappings["SafeSteerDiTSteer"]
    adapter = sys.modules[dit.__module__.rsplit(".", 1)[0] + ".dit_adapter"]
    direction = SafetyDirection.load(direction_path)
    model = tm.build_model("flux", 0, context_dim=CONTEXT, pooled_dim=CONTEXT)
    info = adapter.inspect_model(model)
    clip = tte.build_clip("minilm")
    gate_reader = DiTSteerer(direction, DiTSteerConfig(mode="gated"), info.hidden_size, info.context_dim)
    w = model.model.diffusion_model.txt_in.weight.detach().to(torch.float64)
    lines = ["| prompt | gates open | strength | mean projection shift at steered sites | sites |", "|---|---|---|---|---|"]
    for name, text in PROMPTS.items():
        cond, pooled, _ = tte.encode(clip, text)
        conditioning = [[cond, {"pooled_output": pooled, "guidance": 3.5}]]
        gates = gate_reader.gates(cond.to(torch.float32))[0]     # the same per-prompt gate DiT steering uses
        opened = [c for c, g in zip(direction.categories, gates.tolist()) if g] or ["none"]
        shift = (direction.vectors.to(torch.float64) * direction.scale.to(torch.float64).unsqueeze(1)) @ w.T
        e = (shift.sum(0) / shift.sum(0).norm()).to(torch.float32)
        base_proj = None
        for s in strengths:
            m = dit.execute(model, direction, s, "gated", "all", "both", 0.0, 1.0, True, "auto").result[0]
            projections: list[float] = []
            probe = m.clone()
            patches = probe.model_options.get("transformer_options", {}).get("patches_replace", {}).get("dit", {})
            for i in range(info.num_single):
                probe.set_model_patch_replace(ProjectionProbe(patches.get(("single_block", i)), e, projections),
                                              "dit", "single_block", i)
            host.nodes.common_ksampler(probe, 0, 1, 1.0, "euler", "simple", conditioning, conditioning,
                                       tm.make_latent("flux"), denoise=1.0)
            mean = sum(projections) / len(projections)
            base_proj = mean if base_proj is None else base_proj
            lines.append(f"| {name} | {', '.join(opened)} | {s:g} | {mean - base_proj:+.3f} | "
                         f"{info.num_double} double + {info.num_single} single |")
    host.close()
    return lines


def _shown(path: str | os.PathLike[str]) -> str:
    """``path`` relative to the repository when it lies inside it (what a user types from the repo root)."""
    try:
        return str(Path(path).relative_to(REPO))
    except ValueError:
        return str(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="out/demo")
    args = parser.parse_args()
    out_dir = (REPO / args.out).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    base = make_base_dir(out_dir / "comfy-base")
    version = host_version()
    open_ui = (f"{_shown(host_python())} {_shown(comfy_dir() / 'main.py')} --cpu --base-directory {_shown(base)}")
    print(f"SafeSteer demo: real ComfyUI {version} + the pack, A/B workflow on an embedded tiny FLUX")
    grids, saved, strengths = run_workflow(base, out_dir)
    direction_path = base / "models" / "safety_directions" / saved
    table = measure(base, direction_path, strengths)
    report = [
        "# SafeSteer A/B demo", "",
        f"Workflow: `workflows/ab_strength_sweep.json`, run headless on ComfyUI {version} with an embedded tiny FLUX "
        "(random weights, ComfyUI's own Flux class) whose text encoder is the real all-MiniLM-L6-v2. "
        "DiT Safety Steer runs in gated mode: only prompts that open a category gate (thresholds calibrated on "
        "benign anchors only) are steered.", "",
        *table, "",
        "Grids (latent previews, one cell per strength): " + ", ".join(f"`{p.name}`" for p in grids.values()), "",
        f"Direction saved by the graph: `{direction_path}`.", "",
        f"To open the UI: `{open_ui}` and browse to http://127.0.0.1:8188, then drag any file from `workflows/` "
        "onto the canvas.",
    ]
    (out_dir / "report.md").write_text("\n".join(report) + "\n")
    print("\n".join(table))
    print(f"\nwrote {out_dir / 'report.md'} and {', '.join(str(p) for p in grids.values())}")
    print(f"open the UI: {open_ui}  (then http://127.0.0.1:8188 and drag a file from workflows/)")


if __name__ == "__main__":
    main()
