"""The README's script runs exactly as printed."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.host_independent

ROOT = Path(__file__).resolve().parents[1]


def _readme_scripts() -> list[str]:
    """Every marked python block of the README, in order."""
    text = (ROOT / "README.md").read_text()
    found = re.findall(r"<!-- readme-script:start -->\s*```python\n(.*?)```\s*<!-- readme-script:end -->", text, re.S)
    assert len(found) == len(re.findall(r"<!-- readme-script:start -->", text)), "a marked block is not a python block"
    return found


def _run_script(tmp_path: Path, source: str) -> str:
    script = tmp_path / "readme_script.py"
    script.write_text(source)
    env = {"PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def _block(marker: str) -> str:
    blocks = [b for b in _readme_scripts() if marker in b]
    assert len(blocks) == 1, f"README has {len(blocks)} marked blocks using {marker}"
    return blocks[0]


def test_every_marked_block_has_a_test() -> None:
    assert len(_readme_scripts()) == 3


def test_readme_diffusers_script_runs_as_written(tmp_path: Path) -> None:
    out = _run_script(tmp_path, _block("steer_pipeline"))
    assert ("calls steered: {'calls': 3, 'edits': {'single:0': 3, 'single:1': 3}, "
            "'changed': {'single:0': 3, 'single:1': 3}}") in out
    assert "image changed: True" in out
    assert "bit-identical after remove: True" in out
    scores = re.search(r"per step \(higher = safer\): \[(.*)\]", out)
    assert scores and len(scores.group(1).split(",")) == 4


def test_readme_sae_training_script_runs_as_written(tmp_path: Path) -> None:
    out = _run_script(tmp_path, _block("train_safety_sae"))
    assert "Safety SAE: 2 site(s) on FluxTransformer2DModel" in out
    assert "saved tiny_flux_sae.safetensors" in out and "sites chosen by robustness-aware routing: " in out
    assert "reused the saved file: True" in out
    assert (tmp_path / "safety_saes" / "tiny_flux_sae.safetensors").is_file()
    assert not list((tmp_path / "safety_saes").glob("tiny_flux_sae_*.safetensors"))       # nothing trained twice
    sites = re.search(r"routing: (\S+), (\S+)", out)
    assert sites and f"'edits': {{'{sites.group(1)}': 2, '{sites.group(2)}': 2}}" in out


def test_readme_script_runs_as_written(tmp_path: Path) -> None:
    stdout = _run_script(tmp_path, _block("TransformersEncoder.minilm()"))
    assert "| violence |" in stdout
    assert "steered prompts: [True, False]" in stdout
    assert (tmp_path / "minilm_layer3_safety.safetensors").is_file()
