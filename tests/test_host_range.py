"""The host under test lies inside the ComfyUI range the pack declares (pyproject's [tool.comfy],
read by the Comfy registry and ComfyUI-Manager) and the README states, and so does its frontend."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import version

from comfy_host import REPO_ROOT, host_version
from packaging.specifiers import SpecifierSet


def _declared() -> dict[str, str]:
    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["comfy"]


def test_host_and_frontend_are_inside_the_declared_range() -> None:
    comfy = _declared()
    host = SpecifierSet(comfy["requires-comfyui"])
    frontend = SpecifierSet(comfy["supported-comfyui-frontend-version"])
    assert host_version() in host, f"ComfyUI {host_version()} is outside requires-comfyui {host}"
    installed = version("comfyui-frontend-package")
    assert installed in frontend, f"frontend {installed} is outside {frontend}"
    # the range is exactly the host matrix: its two ends are the versions the bounds name
    assert {s.operator for s in host} == {">=", "<="}


def test_readme_states_the_declared_range() -> None:
    comfy = _declared()
    bounds = {s.operator: s.version for s in SpecifierSet(comfy["requires-comfyui"])}
    readme = (REPO_ROOT / "README.md").read_text()
    assert re.search(rf"ComfyUI {re.escape(bounds['>='])} – {re.escape(bounds['<='])}", readme), \
        f"README does not state the supported range ComfyUI {bounds['>=']} – {bounds['<=']}"
