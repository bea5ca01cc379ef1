"""`make demo` end to end: the exact script it calls (scripts/demo_comfy.py) on the host under test.

The Makefile's `demo` target must call that script (checked here), so a broken demo fails `make
test`. The script runs in the host's own interpreter (tests/comfy_host.py ``host_python``) against
the host ``$SAFESTEER_COMFYUI`` names, writes into a temporary folder, and is checked for what its
report promises: one labelled grid per prompt (a PNG with one cell per strength of the shipped sweep),
and per prompt and strength the gates the prompt opened and how far the steered sites moved along
the direction. In gated mode a prompt that opens no gate must not move at all, and one that does
must move further with every larger strength.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from pathlib import Path

import numpy as np
import pytest
from comfy_host import REPO_ROOT, host_python

from steering_core import SafetyDirection

DEMO_SCRIPT = "scripts/demo_comfy.py"
ROW = re.compile(r"^\| (?P<prompt>\w+) \| (?P<gates>[^|]+) \| (?P<strength>[-\d.]+) \| (?P<shift>[-+][\d.]+) \| (?P<sites>[^|]+) \|$")


def _sweep_strengths() -> list[float]:
    """The strengths of workflows/ab_strength_sweep.json's Safety Strength Sweep, read from the file."""
    workflow = json.loads((REPO_ROOT / "workflows" / "ab_strength_sweep.json").read_text())
    sweep = next(n for n in workflow["nodes"] if n["type"] == "SafeSteerStrengthSweep")
    return [float(s) for s in sweep["widgets_values"][0].replace(",", " ").split()]


def _demo_command() -> list[str]:
    """The Makefile's `demo` recipe, which must run DEMO_SCRIPT."""
    makefile = (REPO_ROOT / "Makefile").read_text()
    recipe = re.search(r"^demo:.*\n\t(?P<cmd>.+)$", makefile, re.M)
    assert recipe, "the Makefile has no demo target"
    cmd = shlex.split(recipe.group("cmd"))
    assert cmd[1] == DEMO_SCRIPT, f"make demo runs {cmd}, not {DEMO_SCRIPT}"
    return cmd[1:]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("demo") / "demo"
    args = _demo_command()
    args[args.index("--out") + 1] = str(out)
    env = {**os.environ, "PYTHONPATH": ""}
    result = subprocess.run([host_python(), *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=7200, env=env)
    assert result.returncode == 0, f"make demo's script failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
    return out, result.stdout


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_demo_writes_grids_with_one_cell_per_strength(demo: tuple[Path, str]) -> None:
    out, _ = demo
    n = len(_sweep_strengths())
    sizes = {name: _png_size(out / f"ab_grid_{name}.png") for name in ("benign", "unsafe")}
    assert sizes["benign"] == sizes["unsafe"], sizes
    from PIL import Image

    grid = np.asarray(Image.open(out / "ab_grid_unsafe.png").convert("RGB"), dtype=np.float64)
    # one row of n square cells (the demo's 128x128 latent previews), each under a label band
    width, height = sizes["unsafe"]
    cell = width // n
    assert width == n * cell and cell >= 128 and height > cell, (width, height, n)
    cells = [grid[height - cell:, i * cell:(i + 1) * cell] for i in range(n)]
    assert all(cell.std() > 0 for cell in cells), "a grid cell is blank"


def test_demo_report_holds_the_promised_numbers(demo: tuple[Path, str]) -> None:
    out, stdout = demo
    report = (out / "report.md").read_text()
    strengths = _sweep_strengths()
    rows = [m.groupdict() for line in report.splitlines() for m in [ROW.match(line)] if m]
    for prompt in ("benign", "unsafe"):
        mine = [r for r in rows if r["prompt"] == prompt]
        assert [float(r["strength"]) for r in mine] == strengths, (prompt, mine)
        shifts = [float(r["shift"]) for r in mine]
        gates = {r["gates"].strip() for r in mine}
        assert len(gates) == 1, f"{prompt}: gates differ between rows: {gates}"
        assert shifts[strengths.index(0.0)] == 0.0
        if gates == {"none"}:
            assert all(s == 0.0 for s in shifts), f"{prompt} opened no gate but its sites moved: {shifts}"
        else:
            assert all(b > a for a, b in zip(shifts, shifts[1:])), f"{prompt}: shift not increasing with strength: {shifts}"
    unsafe_gates = next(r["gates"] for r in rows if r["prompt"] == "unsafe").strip()
    assert unsafe_gates != "none", "the demo's unsafe prompt opened no gate, so nothing was steered"
    saved = re.search(r"Direction saved by the graph: `(?P<path>[^`]+)`", report)
    assert saved, report
    direction = SafetyDirection.load(saved.group("path"))
    assert set(unsafe_gates.split(", ")) <= set(direction.categories)
    for name in ("ab_grid_benign.png", "ab_grid_unsafe.png", "report.md"):
        assert name in report or name in stdout
