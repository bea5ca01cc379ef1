"""steering_core must import with nothing but torch, numpy, safetensors and einops, never ComfyUI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.host_independent

ROOT = Path(__file__).resolve().parents[1]

_PROBE = r"""
import sys
class Block:
    banned = ("comfy", "folder_paths", "nodes", "comfy_api", "server", "execution", "transformers", "diffusers")
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in self.banned:
            raise ImportError(f"steering_core imported {name}")
        return None
sys.meta_path.insert(0, Block())
import steering_core, steering_core.encoders
print(sorted(m for m in sys.modules if m.split(".")[0] in Block.banned))
"""


def test_core_imports_without_comfyui_or_transformers() -> None:
    result = subprocess.run([sys.executable, "-c", _PROBE], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_core_sources_never_import_the_host() -> None:
    for path in (ROOT / "steering_core").rglob("*.py"):
        text = path.read_text()
        for banned in ("import comfy", "from comfy", "import folder_paths", "import nodes", "from nodes"):
            assert banned not in text, f"{path} contains {banned!r}"
