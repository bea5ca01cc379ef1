"""The README's script runs exactly as printed."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _readme_script() -> str:
    text = (ROOT / "README.md").read_text()
    match = re.search(r"<!-- readme-script:start -->\s*```python\n(.*?)```\s*<!-- readme-script:end -->", text, re.S)
    assert match, "README lost its marked script block"
    return match.group(1)


def test_readme_script_runs_as_written(tmp_path: Path) -> None:
    script = tmp_path / "readme_script.py"
    script.write_text(_readme_script())
    env = {"PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "| violence |" in result.stdout
    assert "steered prompts: [True, False]" in result.stdout
    assert (tmp_path / "minilm_layer3_safety.safetensors").is_file()
